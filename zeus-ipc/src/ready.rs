//! [`Readiness`]: waiting for a mailbox together with other descriptors, in the caller's own
//! `poll`/`epoll`, instead of polling it on a timer (a scheduler that also waits for
//! signals, child exits and connections).
//!
//! ```text
//!   match chan.arm() {                      // announce: "I am about to sleep"
//!       Wait::Fd(fd) => poll([fd, others…], timeout),
//!       Wait::Ready  => {}                  // a message may already wait: do not sleep
//!       Wait::Timer  => poll([others…], short timeout),   // no descriptor (sysv)
//!   }
//!   chan.disarm();                          // always, whatever woke the caller
//!   while let Ok(n) = chan.try_recv(&mut buf) { … }
//! ```
//!
//! By adapter:
//! - `fifo` and `socket`: the mailbox's own descriptor (the FIFO's read end, the datagram
//!   socket), level-triggered; `arm` says [`Wait::Ready`] when bytes already read wait in
//!   the FIFO reader's buffer.
//! - `mmap`: the hub's mailbox has an eventfd, created with the channel (so before any fork,
//!   and inherited by the workers). `arm` announces the sleeper in the ring's header as a
//!   parked receiver; a sender rings the eventfd only when it sees that announcement, so
//!   while the hub is awake a send still makes no system call. `arm` re-checks the ring after
//!   announcing: on x86-64 a sender's reservation is a locked instruction ordered before its
//!   check, so no wake-up is missed; on weaker memory models one can be, and the caller's
//!   timeout bounds the delay. Worker mailboxes, and a hub opened by name
//!   ([`crate::MmapChannel::open`]), have no descriptor: [`Wait::Timer`].
//! - `sysv`: message queues have no descriptor; the hub's mailbox has an eventfd and a shared
//!   word counting sleeping hubs, both made with the channel (inherited across `fork`): `arm`
//!   announces the sleeper, then counts the queue (`IPC_STAT`); a sender that queued a message
//!   for the hub rings only while the word is non-zero. Worker mailboxes: [`Wait::Timer`].
//!
//! One thread of the receiving process arms a mailbox at a time.

use std::os::fd::BorrowedFd;

use crate::any::AnyChannel;
use crate::fifo::FifoChannel;
use crate::socket::SocketChannel;

/// How to wait for a mailbox (see [`Readiness::arm`]).
#[derive(Debug, Clone, Copy)]
pub enum Wait<'a> {
    /// Sleep until this descriptor is readable (`POLLIN`), then [`Readiness::disarm`].
    Fd(BorrowedFd<'a>),
    /// A message may already wait: receive before sleeping.
    Ready,
    /// The adapter has no descriptor for this mailbox: wake up on a timer to look.
    Timer,
}

/// Waiting for this endpoint's mailbox in the caller's own `poll`: [`arm`](Readiness::arm)
/// says how to sleep, [`disarm`](Readiness::disarm) undoes it after every sleep, then
/// `try_recv` drains the mailbox.
pub trait Readiness {
    /// Prepares to sleep until a message may wait in this endpoint's mailbox.
    fn arm(&self) -> Wait<'_>;

    /// Withdraws what [`arm`](Readiness::arm) announced and clears the descriptor's
    /// readiness; call it after every sleep (a no-op when nothing was armed).
    fn disarm(&self) {}
}

impl Readiness for FifoChannel {
    fn arm(&self) -> Wait<'_> {
        match self.read_readiness() {
            (_, true) => Wait::Ready,
            (fd, false) => Wait::Fd(fd),
        }
    }
}

impl Readiness for SocketChannel {
    fn arm(&self) -> Wait<'_> {
        Wait::Fd(self.rx_fd())
    }
}

impl Readiness for AnyChannel {
    fn arm(&self) -> Wait<'_> {
        match self {
            AnyChannel::Fifo(c) => c.arm(),
            AnyChannel::Sysv(c) => c.arm(),
            AnyChannel::Mmap(c) => c.arm(),
            AnyChannel::Socket(c) => c.arm(),
        }
    }

    fn disarm(&self) {
        match self {
            AnyChannel::Fifo(c) => c.disarm(),
            AnyChannel::Sysv(c) => c.disarm(),
            AnyChannel::Mmap(c) => c.disarm(),
            AnyChannel::Socket(c) => c.disarm(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, ChannelOptions, IpcName, Mailbox, MmapChannel, SysvChannel};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    /// Whether `fd` becomes readable within `ms` (a bound, not a measurement).
    fn readable(w: Wait<'_>, ms: u16) -> bool {
        let Wait::Fd(fd) = w else {
            panic!("expected a descriptor, got {w:?}");
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap();
        fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
    }

    fn wakes_only_an_armed_hub<C: Channel + Readiness>(tag: &str) {
        let pid = std::process::id();
        let run_dir = std::env::temp_dir().join(format!("zr-{pid}-{tag}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let name = IpcName::new(&format!("r{pid}{tag}"), "ready").unwrap();
        let opts = ChannelOptions {
            workers: 1,
            run_dir: run_dir.clone(),
            ..ChannelOptions::default()
        };
        let hub = C::create(&name, &opts).unwrap();
        let worker = hub.endpoint(Mailbox::new(1)).unwrap();
        let mut buf = [0u8; 16];
        assert!(!readable(hub.arm(), 0), "{tag}: empty, not readable");
        hub.disarm();
        // Sent while the hub sleeps: the descriptor becomes readable.
        let w = hub.arm();
        worker.try_send(Mailbox::HUB, b"x").unwrap();
        assert!(readable(w, 5000), "{tag}: a message wakes the armed hub");
        hub.disarm();
        assert_eq!(hub.try_recv(&mut buf).unwrap(), 1);
        // Sent while the hub is awake: `arm` tells (at once, or through the descriptor), and
        // for mmap nothing was rung: once drained, the bell is quiet.
        worker.try_send(Mailbox::HUB, b"y").unwrap();
        let w = hub.arm();
        assert!(matches!(w, Wait::Ready) || readable(w, 0), "{tag}: {w:?}");
        hub.disarm();
        assert_eq!(hub.try_recv(&mut buf).unwrap(), 1);
        assert!(!readable(hub.arm(), 0), "{tag}: drained, quiet again");
        hub.disarm();
        drop((worker, hub));
        std::fs::remove_dir_all(&run_dir).unwrap();
    }

    #[test]
    fn mmap_hub_has_a_doorbell() {
        wakes_only_an_armed_hub::<MmapChannel>("m");
    }

    #[test]
    fn fifo_hub_polls_its_read_end() {
        wakes_only_an_armed_hub::<FifoChannel>("f");
    }

    #[test]
    fn socket_hub_polls_its_socket() {
        wakes_only_an_armed_hub::<SocketChannel>("s");
    }

    #[test]
    fn sysv_hub_has_a_doorbell() {
        wakes_only_an_armed_hub::<SysvChannel>("v");
    }

    #[test]
    fn without_a_descriptor_the_caller_polls() {
        let pid = std::process::id();
        let opts = ChannelOptions::default();
        let name = IpcName::new(&format!("r{pid}v"), "ready").unwrap();
        let hub = SysvChannel::create(&name, &opts).unwrap();
        let worker = hub.endpoint(Mailbox::new(1)).unwrap();
        assert!(matches!(worker.arm(), Wait::Timer));
        let name = IpcName::new(&format!("r{pid}w"), "ready").unwrap();
        let hub = MmapChannel::create(&name, &opts).unwrap();
        let worker = hub.endpoint(Mailbox::new(1)).unwrap();
        assert!(
            matches!(worker.arm(), Wait::Timer),
            "worker mailboxes have no bell"
        );
    }
}
