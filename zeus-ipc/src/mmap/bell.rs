//! The hub mailbox's doorbell: an eventfd the hub can `poll` beside its other descriptors
//! ([`crate::Readiness`]). The hub announces itself in its ring's `bell_armed` count before
//! it sleeps in `poll`; a sender that publishes a message and sees the count rings the bell.
//! Futex waiters have their own count (`receivers_parked`), so a hub parked in `recv` costs
//! a sender one `FUTEX_WAKE` and no `eventfd` write, and a hub in `poll` no `FUTEX_WAKE`
//! (one shared count cost a system call more per message into the hub: 1.20x the raw
//! futex ring on one CPU). While the hub is awake both are 0 and a send makes no system call.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::layout::RingHeader;
use super::{announce, wake, MmapChannel, Segment};
use crate::channel::Mailbox;
use crate::ready::{Readiness, Wait};
use crate::sys;

/// An eventfd (non-blocking, close-on-exec; inherited across `fork`) and whether this
/// process's hub endpoint announced itself.
#[derive(Debug)]
pub(super) struct Bell {
    fd: EventFd,
    armed: AtomicBool,
}

impl Bell {
    /// `None` when the process cannot have one more descriptor: the hub then polls.
    pub(super) fn new() -> Option<Self> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).ok()?;
        Some(Self {
            fd,
            armed: AtomicBool::new(false),
        })
    }
}

impl Segment {
    /// After a message to `to` was published: wakes its parked receivers (futex) and, for
    /// the hub's mailbox, rings the bell if the hub sleeps on it.
    #[inline]
    pub(super) fn wake_receivers(&self, to: Mailbox, h: &RingHeader) {
        wake(&h.data_futex, &h.receivers_parked, &h.data_woken);
        if let (true, Some(bell)) = (to.is_hub(), &self.bell) {
            // Same (fence-free) check as `wake`, on the same line.
            if h.bell_armed.load(Ordering::Relaxed) != 0 {
                // EAGAIN (the counter is full) still leaves it readable.
                let _ = bell.fd.write(1);
            }
        }
    }
}

impl Readiness for MmapChannel {
    fn arm(&self) -> Wait<'_> {
        let Some(bell) = self.segment.bell.as_ref().filter(|_| self.mailbox.is_hub()) else {
            return Wait::Timer;
        };
        if bell.armed.load(Ordering::Relaxed) {
            return Wait::Fd(bell.fd.as_fd());
        }
        let ring = self.segment.ring(self.mailbox);
        let h = ring.header;
        announce(&h.bell_armed);
        // Reserved positions count, published or not: a sender that reserved before our
        // announcement may not see it (see the module docs of `crate::ready`).
        if h.tail.load(Ordering::SeqCst) != h.next.load(Ordering::SeqCst) {
            h.bell_armed.fetch_sub(1, Ordering::SeqCst);
            // A dead sender's reservation would otherwise say "ready" for ever.
            ring.reclaim_stalled(sys::current_pid());
            return Wait::Ready;
        }
        bell.armed.store(true, Ordering::Relaxed);
        Wait::Fd(bell.fd.as_fd())
    }

    fn disarm(&self) {
        let Some(bell) = self.segment.bell.as_ref().filter(|_| self.mailbox.is_hub()) else {
            return;
        };
        if bell.armed.swap(false, Ordering::Relaxed) {
            let h = self.segment.ring(self.mailbox).header;
            h.bell_armed.fetch_sub(1, Ordering::SeqCst);
            // EAGAIN: not rung.
            let _ = bell.fd.read();
        }
    }
}
