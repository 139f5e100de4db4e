//! `sysv` adapter: System V message queues, the message type addressing the mailbox.
//!
//! - Two queues: one into the hub (mailbox 0), one shared by all workers where the message
//!   type is the worker's mailbox number (`msgrcv` by type). Two, not one, so that workers
//!   that stop reading cannot fill the bytes the hub's reports need. The queues' byte budget
//!   is `capacity` capped at `kernel.msgmnb` (shared by all workers on the workers' queue);
//!   the largest message must not exceed `kernel.msgmax` (refused at creation otherwise).
//! - The kernel has no timed `msgrcv`/`msgsnd`. A receiver that finds nothing spins on,
//!   then sleeps on, a futex word of its mailbox in a small shared mapping made with the
//!   channel, which every send bumps (`wait.rs`: why no wake-up is lost), then takes the
//!   message with a non-blocking `msgrcv`. A full queue on send is rare and polled (yield,
//!   then sleeps of 50 µs..1 ms).
//! - Peer death: each mailbox has a semaphore that its receiver touches (a `semop` of 0),
//!   so `GETPID` names the receiving process; senders check it when they would wait,
//!   workers check the hub's pid at least every [`LIVENESS_PERIOD`](crate::LIVENESS_PERIOD).
//!   A removed queue (`EIDRM`) is `Disconnected` as well; the hub wakes every sleeper when
//!   it removes the queues.
//! - Names: the keys are FNV-1a hashes of `zeus.<instance>.<scope>.sysv.<object>`; the
//!   creator first writes the marker `/dev/shm/zeus.<instance>.<scope>.sysv` listing them
//!   (see [`crate::name`]), and `IPC_RMID`s everything on drop.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;

use crate::channel::{check_mailbox, check_send, Channel, ChannelOptions, IpcAdapter, Mailbox};
use crate::deadline::{Backoff, Deadline};
use crate::error::{CreateError, ListError, OpenError, RecvError, SendError};
use crate::name::{IpcName, Leftover, OwnedFiles, SHM_DIR};
use crate::sys;

const ADAPTER: IpcAdapter = IpcAdapter::Sysv;
/// Extension of the marker file in [`SHM_DIR`].
pub(crate) const MARKER_EXT: &str = "sysv";
const PERMS: i32 = 0o600;

/// The System V keys of a channel, derived from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvKeys {
    /// Queue into the hub.
    pub to_hub: i32,
    /// Queue into the workers (type = mailbox).
    pub to_workers: i32,
    /// Semaphore set (one per mailbox: its receiver's pid).
    pub semaphores: i32,
}

fn fnv1a(text: &str) -> i32 {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // 0 is IPC_PRIVATE and -1 is an error value; neither may be a key.
    match hash as i32 {
        0 | -1 => 1,
        key => key,
    }
}

impl SysvKeys {
    /// The keys of channel `name`.
    pub fn for_name(name: &IpcName) -> Self {
        Self {
            to_hub: fnv1a(&name.object("sysv.to_hub")),
            to_workers: fnv1a(&name.object("sysv.to_workers")),
            semaphores: fnv1a(&name.object("sysv.semaphores")),
        }
    }

    /// Which of these objects exist in the kernel now.
    pub fn existing(&self) -> Vec<Leftover> {
        let mut found = Vec::new();
        for key in [self.to_hub, self.to_workers] {
            if !matches!(sys::msg_get(key, 0), Err(Errno::ENOENT)) {
                found.push(Leftover::SysvQueue { key });
            }
        }
        if !matches!(sys::sem_get(self.semaphores, 0, 0), Err(Errno::ENOENT)) {
            found.push(Leftover::SysvSemaphores {
                key: self.semaphores,
            });
        }
        found
    }

    fn marker_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "to_hub {}", self.to_hub);
        let _ = writeln!(text, "to_workers {}", self.to_workers);
        let _ = writeln!(text, "semaphores {}", self.semaphores);
        text
    }

    fn parse_marker(text: &str) -> Option<Self> {
        let mut keys = text.lines().filter_map(|line| {
            let (name, key) = line.split_once(' ')?;
            Some((name, key.trim().parse::<i32>().ok()?))
        });
        let (to_hub, to_workers, semaphores) = (keys.next()?, keys.next()?, keys.next()?);
        (to_hub.0 == "to_hub" && to_workers.0 == "to_workers" && semaphores.0 == "semaphores")
            .then_some(Self {
                to_hub: to_hub.1,
                to_workers: to_workers.1,
                semaphores: semaphores.1,
            })
    }
}

/// The SysV objects a marker names that still exist (for [`crate::name::list`]).
pub(crate) fn marker_leftovers(marker: &Path) -> Vec<Leftover> {
    std::fs::read_to_string(marker)
        .ok()
        .and_then(|text| SysvKeys::parse_marker(&text))
        .map(|keys| keys.existing())
        .unwrap_or_default()
}

fn rmid_error(key: i32, op: &'static str, e: Errno) -> ListError {
    ListError::Io {
        op,
        object: format!("sysv key {key:#010x}"),
        source: e.into(),
    }
}

/// Removes the message queue with `key`, if any (for [`crate::name::purge`]).
pub(crate) fn remove_queue(key: i32) -> Result<(), ListError> {
    match sys::msg_get(key, 0).and_then(sys::msg_remove) {
        Ok(()) | Err(Errno::ENOENT | Errno::EIDRM | Errno::EINVAL) => Ok(()),
        Err(e) => Err(rmid_error(key, "msgctl(IPC_RMID)", e)),
    }
}

/// Removes the semaphore set with `key`, if any (for [`crate::name::purge`]).
pub(crate) fn remove_semaphores(key: i32) -> Result<(), ListError> {
    match sys::sem_get(key, 0, 0).and_then(sys::sem_remove) {
        Ok(()) | Err(Errno::ENOENT | Errno::EIDRM | Errno::EINVAL) => Ok(()),
        Err(e) => Err(rmid_error(key, "semctl(IPC_RMID)", e)),
    }
}

/// The kernel objects a hub created; removed when the creating process drops the hub.
#[derive(Debug)]
struct Owner {
    queues: Vec<i32>,
    semaphores: Option<i32>,
    /// The marker; dropped (unlinked) after the objects, see `Drop`.
    marker: OwnedFiles,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if self.marker.is_creator() {
            for id in &self.queues {
                let _ = sys::msg_remove(*id);
            }
            if let Some(id) = self.semaphores {
                let _ = sys::sem_remove(id);
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    to_hub: i32,
    to_workers: i32,
    semaphores: i32,
    workers: u32,
    max: usize,
    hub_pid: i32,
    /// The hub's doorbell for [`crate::Readiness`]; `None` when it could not be made.
    bell: Option<bell::Bell>,
    /// Where receivers sleep (see `wait.rs`).
    waits: wait::WaitLines,
    /// How long a receiver busy-polls before it sleeps ([`ChannelOptions::spin`]).
    spin: Duration,
}

impl Shared {
    fn route(&self, mailbox: Mailbox) -> (i32, i64) {
        if mailbox.is_hub() {
            (self.to_hub, 1)
        } else {
            (self.to_workers, i64::from(mailbox.index()))
        }
    }
}

/// Semaphore whose `GETPID` names `mailbox`'s receiving process.
fn receiver(mailbox: Mailbox) -> u16 {
    // MAX_WORKERS (4096) keeps the index well inside u16.
    mailbox.index() as u16
}

/// A handle on a System V channel; see the [module docs](self).
#[derive(Debug)]
pub struct SysvChannel {
    mailbox: Mailbox,
    shared: Arc<Shared>,
    /// The pid last registered as this mailbox's receiver by this handle.
    registered: AtomicI32,
    _owner: Option<Owner>,
}

mod bell;
mod create;
pub(crate) mod wait;

impl SysvChannel {
    fn bound(mailbox: Mailbox, shared: Arc<Shared>, owner: Option<Owner>) -> Self {
        let handle = Self {
            mailbox,
            shared,
            registered: AtomicI32::new(0),
            _owner: owner,
        };
        // Until the real receiver's first `recv`, the endpoint's maker stands in for it.
        handle.register();
        handle
    }

    fn register(&self) {
        let me = sys::current_pid();
        if self.registered.load(Ordering::Relaxed) != me {
            let sem = receiver(self.mailbox);
            let nowait = libc::IPC_NOWAIT as i16;
            if sys::sem_op(self.shared.semaphores, sem, 0, nowait, None).is_ok() {
                self.registered.store(me, Ordering::Relaxed);
            }
        }
    }

    fn receiver_alive(&self, to: Mailbox) -> Result<bool, Errno> {
        let pid = sys::sem_last_pid(self.shared.semaphores, receiver(to))?;
        Ok(sys::process_alive(pid))
    }
}

fn gone(e: Errno) -> bool {
    matches!(e, Errno::EIDRM | Errno::EINVAL)
}

impl Channel for SysvChannel {
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError> {
        create::create(name, opts)
    }

    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError> {
        check_mailbox(mailbox, self.shared.workers)?;
        Ok(Self::bound(mailbox, Arc::clone(&self.shared), None))
    }

    fn adapter(&self) -> IpcAdapter {
        ADAPTER
    }

    fn mailbox(&self) -> Mailbox {
        self.mailbox
    }

    fn workers(&self) -> u32 {
        self.shared.workers
    }

    fn max_message_size(&self) -> usize {
        self.shared.max
    }

    fn send(&self, to: Mailbox, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        check_send(to, msg.len(), self.shared.workers, self.shared.max)?;
        let (queue, mtype) = self.shared.route(to);
        let io = |op, e: Errno| SendError::Io {
            op,
            mailbox: to,
            source: e.into(),
        };
        let mut deadline: Option<Deadline> = None;
        let mut backoff = Backoff::default();
        loop {
            match sys::msg_send(queue, mtype, msg, true) {
                Ok(()) => {
                    self.shared.waits.wake(to);
                    if let (true, Some(bell)) = (to.is_hub(), &self.shared.bell) {
                        bell.ring();
                    }
                    return Ok(());
                }
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(e) if gone(e) => return Err(SendError::Disconnected(to)),
                Err(e) => return Err(io("msgsnd", e)),
            }
            let d = deadline.get_or_insert_with(|| Deadline::new(timeout));
            let Some(slice) = d.slice() else {
                return Err(if d.waits() {
                    SendError::Timeout {
                        mailbox: to,
                        waited: d.elapsed(),
                    }
                } else {
                    SendError::Full(to)
                });
            };
            if d.liveness_due() {
                match self.receiver_alive(to) {
                    Ok(true) => {}
                    Ok(false) => return Err(SendError::Disconnected(to)),
                    Err(e) if gone(e) => return Err(SendError::Disconnected(to)),
                    Err(e) => return Err(io("semctl(GETPID)", e)),
                }
            }
            backoff.pause(slice);
        }
    }

    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        // The kernel checks a queue's and a semaphore set's permissions at every call.
        let s = &self.shared;
        sys::msg_set_owner(s.to_hub, uid, gid)?;
        sys::msg_set_owner(s.to_workers, uid, gid)?;
        sys::sem_set_owner(s.semaphores, uid, gid)?;
        Ok(())
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        let mailbox = self.mailbox;
        let io = |op, e: Errno| RecvError::Io {
            op,
            mailbox,
            source: e.into(),
        };
        self.register();
        let (queue, mtype) = self.shared.route(mailbox);
        let waits = &self.shared.waits;
        let take = buf.len().min(self.shared.max);
        let mut deadline: Option<Deadline> = None;
        let mut spin_for = self.shared.spin.min(timeout);
        // A first look bound to fail is skipped (see `sysv/wait.rs`).
        let mut may_skip = !spin_for.is_zero();
        let mut spun = Duration::ZERO;
        loop {
            // Read before looking at the queue: a message queued after the look bumps it.
            let epoch = waits.epoch(mailbox);
            if std::mem::take(&mut may_skip) && waits.drained(mailbox, epoch) {
                // Wait for a send without sleeping (nor reading the clock), then look at the
                // queue in any case; a wait that goes on counts the spin in its timeout.
                let budget = std::mem::take(&mut spin_for);
                if !waits.spin(mailbox, epoch, budget) {
                    spun = budget;
                }
                continue;
            }
            match sys::msg_recv(queue, mtype, &mut buf[..take], true) {
                Ok(len) => {
                    waits.took(mailbox);
                    return Ok(len);
                }
                Err(Errno::ENOMSG) => {}
                Err(Errno::E2BIG) => {
                    return Err(RecvError::BufferTooSmall {
                        needed: self.shared.max,
                        len: buf.len(),
                    })
                }
                Err(Errno::EINTR) => continue,
                Err(e) if gone(e) => return Err(RecvError::Disconnected(mailbox)),
                Err(e) => return Err(io("msgrcv", e)),
            }
            let d = deadline.get_or_insert_with(|| Deadline::started_before(timeout, spun));
            let Some(slice) = d.slice() else {
                return Err(if d.waits() {
                    RecvError::Timeout {
                        mailbox,
                        waited: d.elapsed(),
                    }
                } else {
                    RecvError::Empty(mailbox)
                });
            };
            waits.sleep(mailbox, epoch, slice, std::mem::take(&mut spin_for));
            if d.liveness_due() && !mailbox.is_hub() && !sys::process_alive(self.shared.hub_pid) {
                return Err(RecvError::Disconnected(mailbox));
            }
        }
    }
}

impl Drop for SysvChannel {
    fn drop(&mut self) {
        // The creator removes the queues first, then wakes every sleeping receiver, which
        // then gets `EIDRM` (Disconnected) at once instead of after its sleep.
        if let Some(owner) = self._owner.take() {
            drop(owner);
            self.shared.waits.wake_all();
        }
    }
}

/// Path of the marker file of channel `name`.
fn marker_path(name: &IpcName) -> PathBuf {
    PathBuf::from(SHM_DIR).join(name.object(MARKER_EXT))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message whose sender died between its `msgsnd` and its bump of the wait line (made
    /// here by queueing it behind the channel's back) is still received at once: the skipped
    /// first look is made after the spin, not after a sleep of a whole slice (100 ms).
    #[test]
    fn an_uncounted_message_is_received_without_sleeping() {
        let name = IpcName::new(&format!("t{}", std::process::id()), "uncounted").unwrap();
        let hub = SysvChannel::create(&name, &ChannelOptions::default()).unwrap();
        let (queue, mtype) = hub.shared.route(Mailbox::HUB);
        sys::msg_send(queue, mtype, b"uncounted", true).unwrap();
        let mut buf = [0; 64];
        let start = std::time::Instant::now();
        let len = hub.recv(&mut buf, Duration::from_secs(5)).unwrap();
        assert_eq!(&buf[..len], b"uncounted");
        let waited = start.elapsed();
        assert!(waited < Duration::from_millis(90), "waited {waited:?}");
    }

    #[test]
    fn keys_differ_and_marker_round_trips() {
        let keys = SysvKeys::for_name(&IpcName::new("i", "s").unwrap());
        assert_ne!(keys.to_hub, keys.to_workers);
        assert_ne!(keys.to_hub, keys.semaphores);
        assert_eq!(SysvKeys::parse_marker(&keys.marker_text()), Some(keys));
        assert_eq!(SysvKeys::parse_marker("garbage"), None);
    }
}
