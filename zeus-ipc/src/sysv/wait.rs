//! Where a receiver sleeps: one futex line per mailbox in a shared `memfd` mapping made
//! with the channel (before any fork, so every endpoint's process inherits it).
//!
//! `msgrcv` has no timeout. A receiver that finds its mailbox empty sleeps on its line's
//! `epoch` with a timed `FUTEX_WAIT` instead, and takes the message with a non-blocking
//! `msgrcv` when woken. Every send bumps `epoch` (a locked add, no system call) and calls
//! `FUTEX_WAKE` only when the line's `waiting` count says a receiver sleeps and no send has
//! woken it since it announced itself (`woken`, cleared by each sleeper first).
//!
//! No wake-up is lost. The receiver reads `epoch`, finds the queue empty (`msgrcv`),
//! announces itself in `waiting`, then sleeps only if `epoch` is unchanged. A message
//! queued after that `msgrcv` was queued after it under the queue's lock, so its sender's
//! bump comes after the receiver's read of `epoch`. Either the sleep sees the bump (it
//! returns at once), or the sender's read of `waiting`, after its bump, sees the
//! announcement (both sides write, then read, with `SeqCst`) and wakes it.
//!
//! Before sleeping, a receiver busy-polls `epoch` (`crate::spin`) for
//! [`ChannelOptions::spin`](crate::ChannelOptions::spin) (no system call), unless the
//! line's last sender ran on its CPU (then it yields the CPU once and looks again), as the
//! mmap adapter does: across CPUs a sleeping
//! receiver costs a wake-up of ~15 µs on this VM (paired round trip 0.34x the raw blocking
//! queue with it, 1.3x without).
//!
//! A receive that may wait skips its first look at the queue when `taken` (bumped by
//! every receiver after its `msgrcv`) equals `epoch`: every message sent was taken, so the
//! `msgrcv` would fail. It spins (or, with the sender on its CPU, yields) for a send first,
//! then looks in any case, so a miscount (a sender that died between its `msgrcv` and its
//! bump) costs at most one `spin`, never a lost message; the sleep always follows a real
//! look. A ping-pong's waiting receive is then spin or yield + `msgrcv`.
//!
//! It replaced a semaphore per mailbox (`semctl(SETVAL)` + `semtimedop` to wait, a
//! `semop` post on every send): a waiting receive went from `msgrcv`, `semctl`, `msgrcv`,
//! `semtimedop`, `msgrcv` to `msgrcv`, `futex`, `msgrcv`, and a send to a receiver that is
//! not waiting makes no second system call.

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::channel::Mailbox;
use crate::spin::{cpu_tag, spin};
use crate::sys::{self, SharedMap};

/// One mailbox's wait words, alone on a cache line (workers do not share lines).
#[repr(C, align(64))]
#[derive(Debug)]
pub(crate) struct WaitLine {
    /// Bumped by every send to the mailbox; the futex word.
    epoch: AtomicU32,
    /// Receivers of the mailbox sleeping (or about to sleep) on `epoch`.
    waiting: AtomicU32,
    /// CPU + 1 of the last sender (0: unknown), for the receivers' spin decision.
    sender_cpu: AtomicU32,
    /// Messages taken from the mailbox, bumped after each `msgrcv`: equal to `epoch` when
    /// (most likely) every message sent was taken.
    taken: AtomicU32,
    /// 1 once a send has woken the sleepers (0: not since the last one announced itself):
    /// a send calls `FUTEX_WAKE` only when it sets it, as the mmap adapter's `wake` does.
    woken: AtomicU32,
    _pad: [AtomicU32; 11],
}

const LINE: usize = std::mem::size_of::<WaitLine>();
const _: () = assert!(LINE == 64);

/// The lines of all mailboxes (hub first); see the [module docs](self).
#[derive(Debug)]
pub(super) struct WaitLines {
    map: SharedMap,
    mailboxes: usize,
}

impl WaitLines {
    /// Lines for the hub and `workers` workers.
    pub(super) fn new(workers: u32) -> Result<Self, (&'static str, std::io::Error)> {
        let mailboxes = workers as usize + 1;
        let memfd = memfd_create(c"zeus-sysv-wait", MFdFlags::MFD_CLOEXEC)
            .map_err(|e| ("memfd_create", e.into()))?;
        let file = File::from(memfd);
        let len = mailboxes * LINE;
        file.set_len(len as u64).map_err(|e| ("ftruncate", e))?;
        let map = SharedMap::map(&file, len).map_err(|e| ("mmap", e))?;
        Ok(Self { map, mailboxes })
    }

    fn line(&self, mailbox: Mailbox) -> &WaitLine {
        let index = (mailbox.index() as usize).min(self.mailboxes - 1);
        self.map
            .view(index * LINE)
            .expect("invariant: every mailbox's line lies inside the mapping")
    }

    /// The value to sleep on, read before looking at the queue.
    pub(super) fn epoch(&self, mailbox: Mailbox) -> u32 {
        self.line(mailbox).epoch.load(Ordering::SeqCst)
    }

    /// Whether every message sent to `mailbox` up to `epoch` seems taken: a look at the
    /// queue would most likely find it empty. Only a hint (a sender between its `msgsnd`
    /// and its bump, or one that died there, leaves a message it does not count), so a
    /// receiver that believes it still looks at the queue before it sleeps.
    pub(super) fn drained(&self, mailbox: Mailbox, epoch: u32) -> bool {
        self.line(mailbox).taken.load(Ordering::Relaxed) == epoch
    }

    /// After a message was taken from `mailbox`.
    pub(super) fn took(&self, mailbox: Mailbox) {
        self.line(mailbox).taken.fetch_add(1, Ordering::Relaxed);
    }

    /// Busy-polls (or yields, see `crate::spin`) until a send to `mailbox` after `epoch`
    /// was read, at most `budget`, without sleeping; whether one came.
    pub(super) fn spin(&self, mailbox: Mailbox, epoch: u32, budget: Duration) -> bool {
        let line = self.line(mailbox);
        let peer = line.sender_cpu.load(Ordering::Relaxed);
        let moved = || (line.epoch.load(Ordering::Relaxed) != epoch).then_some(());
        spin(budget, (peer, cpu_tag()), 1, moved).is_some()
    }

    /// Sleeps until a send to `mailbox` after `epoch` was read, at most `slice`. Woken,
    /// timed out or interrupted: the caller looks at the queue again in every case.
    pub(super) fn sleep(&self, mailbox: Mailbox, epoch: u32, slice: Duration, spin_for: Duration) {
        // First busy-poll the word (no system call) as the mmap adapter does, unless the
        // sender last ran on our CPU.
        if self.spin(mailbox, epoch, spin_for.min(slice)) {
            return;
        }
        let line = self.line(mailbox);
        // Asks for a fresh wake-up before announcing itself (the announcement orders it), so
        // no sender can see an older wake-up and skip ours.
        line.woken.store(0, Ordering::SeqCst);
        line.waiting.fetch_add(1, Ordering::SeqCst);
        let _ = sys::futex_wait(&line.epoch, epoch, slice);
        line.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// After a message for `mailbox` was queued: wakes its sleeping receivers, if any and
    /// if no earlier send already did (a woken receiver that has not yet run would otherwise
    /// cost every send a `FUTEX_WAKE`).
    pub(super) fn wake(&self, mailbox: Mailbox) {
        let line = self.line(mailbox);
        let cpu = cpu_tag();
        if line.sender_cpu.load(Ordering::Relaxed) != cpu {
            line.sender_cpu.store(cpu, Ordering::Relaxed);
        }
        line.epoch.fetch_add(1, Ordering::SeqCst);
        if line.waiting.load(Ordering::SeqCst) != 0 && line.woken.swap(1, Ordering::SeqCst) == 0 {
            sys::futex_wake(&line.epoch, i32::MAX);
        }
    }

    /// Wakes every sleeper, woken before or not (the queues were removed: they will find out).
    pub(super) fn wake_all(&self) {
        for index in 0..self.mailboxes {
            let line = self.line(Mailbox::new(index as u32));
            line.epoch.fetch_add(1, Ordering::SeqCst);
            sys::futex_wake(&line.epoch, i32::MAX);
        }
    }
}
