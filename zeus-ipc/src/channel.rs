//! The [`Channel`] trait, its contract, and the choice of adapter ([`IpcAdapter`]).
//!
//! A channel is a named set of **mailboxes**: mailbox 0 is the hub's (the scheduler's), and
//! mailboxes `1..=workers` are the workers'. Every handle (an *endpoint*) receives from its
//! own mailbox and may send to any mailbox, so "all workers → scheduler" is many senders
//! into mailbox 0 and "scheduler → worker *n*" is one sender into mailbox *n*. The hub
//! [`create`](Channel::create)s the channel and owns its OS objects; it makes the workers'
//! endpoints with [`endpoint`](Channel::endpoint) before it forks them.
//!
//! # Contract
//!
//! Every adapter keeps these promises, and `tests/conformance.rs` and `tests/fork.rs` check
//! each of them, unchanged, against every adapter:
//!
//! - **Boundaries and order.** A message of up to [`max_message_size`](Channel::max_message_size)
//!   bytes (0 included) arrives whole; messages from one sender arrive in the order sent.
//!   A larger message is refused with [`SendError::TooLarge`], never cut.
//! - **Addressing.** Many senders into one mailbox and one sender into chosen mailboxes both
//!   work; a message is received only from the mailbox it was sent to.
//! - **Bounded waits.** [`recv`](Channel::recv) and [`send`](Channel::send) wait at most their
//!   timeout ([`RecvError::Timeout`], [`SendError::Timeout`]); a zero timeout never waits
//!   ([`RecvError::Empty`], [`SendError::Full`]). A full mailbox pushes back; memory never grows
//!   without bound.
//! - **Fork and threads.** Handles can be made before `fork` and used after it in parent and
//!   child, and shared (`&self`, `Send + Sync`) between the threads of a process. Each mailbox
//!   has one receiving *process* at a time (threads of it may share the receiving).
//! - **Peer death.** A worker's endpoint learns that the hub's process died: `recv` and `send`
//!   return `Disconnected` within [`LIVENESS_PERIOD`](crate::LIVENESS_PERIOD) (plus a poll) even with a longer
//!   timeout, after the messages already queued were delivered. The hub learns that a worker
//!   died when it sends to that worker and would have to wait: `SendError::Disconnected`
//!   instead of a timeout. The hub's own `recv` never reports `Disconnected`: with many
//!   senders silence names no one, and zeus-core learns of worker deaths from `waitpid`.
//!   Liveness is checked by pid (`kill(pid, 0)`, zombies count as dead), so pid reuse within
//!   one period can hide a death; the mechanism's own signals (EOF, `EPIPE`,
//!   `ECONNREFUSED`, `EIDRM`) are used as well where they exist.
//! - **Names.** Every OS object is named `zeus.<instance>.<scope>…` ([`crate::name`]),
//!   removed when the creating process drops the hub handle, and listed / purged by
//!   [`crate::name::list`] / [`crate::name::purge`] after a crash.
//!
//! After `fork`, each process should drop the handles it does not use: fd-based adapters keep
//! the peer's end open through inherited descriptors (the pid checks still hold, but EOF and
//! `EPIPE` come later).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{CreateError, OpenError, RecvError, SendError};
use crate::name::IpcName;

/// One mailbox of a channel: [`Mailbox::HUB`] (0) or a worker's (`1..=workers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mailbox(u32);

impl Mailbox {
    /// The hub's (scheduler's) mailbox, 0.
    pub const HUB: Mailbox = Mailbox(0);

    /// Mailbox number `index` (0 is the hub).
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// Its number.
    pub const fn index(self) -> u32 {
        self.0
    }

    /// Whether this is the hub's mailbox.
    pub const fn is_hub(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_hub() {
            f.write_str("mailbox 0 (hub)")
        } else {
            write!(f, "mailbox {}", self.0)
        }
    }
}

/// Largest message by default: fits one `PIPE_BUF` (4096) FIFO write with its 4-byte frame
/// header, and the default `kernel.msgmax` (8192), so every adapter accepts the defaults.
pub const DEFAULT_MAX_MESSAGE: usize = 4000;

/// Most worker mailboxes a channel may have.
pub const MAX_WORKERS: u32 = 4096;

/// What [`Channel::create`] builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOptions {
    /// Worker mailboxes, numbered `1..=workers` (the hub's, 0, always exists). Default 1.
    pub workers: u32,
    /// Largest message in bytes. Default [`DEFAULT_MAX_MESSAGE`]. Adapters refuse sizes their
    /// mechanism cannot carry whole (fifo: 4092, sysv: `kernel.msgmax`).
    pub max_message_size: usize,
    /// Bytes one mailbox may hold before senders are pushed back. Default 64 KiB. The kernel
    /// rounds or caps it: fifo to whole pages (up to `fs.pipe-max-size`), sysv to at most
    /// `kernel.msgmnb`, socket via `SO_SNDBUF` (and at most `net.unix.max_dgram_qlen`
    /// datagrams), mmap to a power-of-two number of message slots (at least 2).
    pub capacity: usize,
    /// Directory for FIFO and socket files. Default: [`std::env::temp_dir`].
    pub run_dir: PathBuf,
    /// How long a waiting receive of the mmap and sysv adapters (and a waiting send of mmap)
    /// busy-polls shared memory before it sleeps on a futex; on a one-CPU machine and when
    /// the peer last ran on our CPU it yields the CPU once instead. A waiting fifo receive
    /// reads between yields for as long before it polls. Zero: sleep at once. Default
    /// 20 µs, about one cross-CPU wake-up here.
    pub spin: Duration,
}

impl Default for ChannelOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            max_message_size: DEFAULT_MAX_MESSAGE,
            capacity: 64 * 1024,
            run_dir: std::env::temp_dir(),
            spin: Duration::from_micros(20),
        }
    }
}

impl ChannelOptions {
    /// The checks every adapter shares.
    pub(crate) fn validate(&self) -> Result<(), CreateError> {
        let invalid = |field, value, reason| {
            Err(CreateError::InvalidOptions {
                field,
                value,
                reason,
            })
        };
        if self.workers > MAX_WORKERS {
            return invalid("workers", self.workers as usize, "at most 4096");
        }
        if self.max_message_size == 0 || self.max_message_size > u32::MAX as usize / 2 {
            return invalid("max_message_size", self.max_message_size, "1..=2^31");
        }
        if self.capacity < self.max_message_size {
            return invalid("capacity", self.capacity, "must hold one largest message");
        }
        Ok(())
    }
}

/// Whether `mailbox` exists in a channel with `workers` worker mailboxes.
pub(crate) fn check_mailbox(mailbox: Mailbox, workers: u32) -> Result<(), OpenError> {
    if mailbox.index() > workers {
        return Err(OpenError::NoSuchMailbox {
            mailbox,
            last: workers,
        });
    }
    Ok(())
}

/// The send-side checks every adapter shares: the mailbox exists, the message fits.
#[inline]
pub(crate) fn check_send(
    to: Mailbox,
    len: usize,
    workers: u32,
    max: usize,
) -> Result<(), SendError> {
    if to.index() > workers {
        return Err(SendError::NoSuchMailbox {
            mailbox: to,
            last: workers,
        });
    }
    if len > max {
        return Err(SendError::TooLarge { size: len, max });
    }
    Ok(())
}

/// Message passing between a hub and its workers, across `fork` and between threads.
/// See the [module docs](self) for the contract every implementation keeps.
pub trait Channel: Send + Sync + fmt::Debug {
    /// Creates the channel's OS objects and returns the hub's endpoint (mailbox 0), which owns
    /// them: dropping it in the creating process removes them.
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError>
    where
        Self: Sized;

    /// An endpoint that receives from `mailbox`, sharing this handle's channel. Make a
    /// worker's endpoint in the hub before forking the worker, then drop it in the hub.
    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError>
    where
        Self: Sized;

    /// The adapter behind this handle (never [`IpcAdapter::Auto`]).
    fn adapter(&self) -> IpcAdapter;

    /// The mailbox this endpoint receives from.
    fn mailbox(&self) -> Mailbox;

    /// Number of worker mailboxes (`1..=workers`).
    fn workers(&self) -> u32;

    /// Largest message [`send`](Channel::send) accepts, in bytes.
    fn max_message_size(&self) -> usize;

    /// Sends `msg` to mailbox `to`, waiting at most `timeout` for room. `Duration::ZERO` never
    /// waits and reports a full mailbox as [`SendError::Full`].
    fn send(&self, to: Mailbox, msg: &[u8], timeout: Duration) -> Result<(), SendError>;

    /// Receives the next message of this endpoint's mailbox into `buf`, waiting at most
    /// `timeout`; returns its length. `Duration::ZERO` never waits ([`RecvError::Empty`]).
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError>;

    /// Lets processes that run as `uid`:`gid` use the channel (workers that drop privileges
    /// after `fork`): gives them the channel's OS objects, which stay mode 0600, and which
    /// the creating process can still remove. Call it on the hub's handle after
    /// [`create`](Channel::create), before forking. Needs the privilege to change owners.
    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()>;

    /// [`send`](Channel::send) without waiting.
    fn try_send(&self, to: Mailbox, msg: &[u8]) -> Result<(), SendError> {
        self.send(to, msg, Duration::ZERO)
    }

    /// [`recv`](Channel::recv) without waiting.
    fn try_recv(&self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv(buf, Duration::ZERO)
    }
}

/// Which mechanism carries a channel; `ipc_adapter` in zeus's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpcAdapter {
    /// The fastest adapter that works here: tries [`IpcAdapter::AUTO_ORDER`] in turn.
    #[default]
    Auto,
    /// Named pipes ([`crate::fifo`]).
    Fifo,
    /// System V message queues ([`crate::sysv`]).
    Sysv,
    /// Shared-memory rings ([`crate::mmap`]).
    Mmap,
    /// Unix datagram sockets ([`crate::socket`]).
    Socket,
}

impl IpcAdapter {
    /// Every concrete adapter, in the order `auto` tries them. mmap first: in
    /// `benches/ipc.rs` its cross-CPU round trip is ~5-30x and its 64-byte throughput ~15x
    /// the others'. Then socket, which also carries large messages and needs no kernel IPC
    /// limit raised; fifo and sysv cap messages at 4092 bytes and `kernel.msgmax` (their
    /// waiting receives, which spin first, answer a ping-pong sooner than socket's, but
    /// zeus's runtime only polls its channel).
    pub const AUTO_ORDER: [IpcAdapter; 4] = [
        IpcAdapter::Mmap,
        IpcAdapter::Socket,
        IpcAdapter::Fifo,
        IpcAdapter::Sysv,
    ];

    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            IpcAdapter::Auto => "auto",
            IpcAdapter::Fifo => "fifo",
            IpcAdapter::Sysv => "sysv",
            IpcAdapter::Mmap => "mmap",
            IpcAdapter::Socket => "socket",
        }
    }

    /// Creates a channel with this adapter (see [`crate::AnyChannel`]).
    pub fn create(
        self,
        name: &IpcName,
        opts: &ChannelOptions,
    ) -> Result<crate::AnyChannel, CreateError> {
        crate::AnyChannel::create_with(self, name, opts)
    }
}

impl fmt::Display for IpcAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An adapter name that is not one of `auto`, `fifo`, `sysv`, `mmap`, `socket`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown IPC adapter {0:?}; expected one of auto, fifo, sysv, mmap, socket")]
pub struct UnknownAdapter(pub String);

impl FromStr for IpcAdapter {
    type Err = UnknownAdapter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [IpcAdapter::Auto]
            .into_iter()
            .chain(IpcAdapter::AUTO_ORDER)
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAdapter(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_names_round_trip() {
        for name in ["auto", "fifo", "sysv", "mmap", "socket"] {
            assert_eq!(name.parse::<IpcAdapter>().unwrap().to_string(), name);
        }
        assert_eq!(
            "shm".parse::<IpcAdapter>(),
            Err(UnknownAdapter("shm".into()))
        );
        assert_eq!(IpcAdapter::default(), IpcAdapter::Auto);
    }

    #[test]
    fn options_are_checked() {
        assert!(ChannelOptions::default().validate().is_ok());
        let small = ChannelOptions {
            capacity: 10,
            ..ChannelOptions::default()
        };
        assert!(matches!(
            small.validate(),
            Err(CreateError::InvalidOptions {
                field: "capacity",
                ..
            })
        ));
        assert!(matches!(
            check_send(Mailbox::new(2), 1, 1, 10),
            Err(SendError::NoSuchMailbox { last: 1, .. })
        ));
        assert!(matches!(
            check_send(Mailbox::HUB, 11, 1, 10),
            Err(SendError::TooLarge { size: 11, max: 10 })
        ));
    }
}
