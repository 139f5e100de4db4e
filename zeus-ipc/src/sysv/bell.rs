//! The hub mailbox's doorbell, as the `mmap` adapter has one ([`crate::Readiness`]): an
//! eventfd plus one shared word counting the hub endpoints that sleep on it, both made with
//! the channel (before any fork, so the workers inherit them). Message queues have no
//! descriptor, and without the word every message into the hub would cost an `eventfd`
//! write; with it, a sender writes only while the hub is armed.
//!
//! No wake-up is lost: `arm` announces itself in the word, then counts the hub queue
//! (`IPC_STAT`); a sender queues its message (`msgsnd`), then reads the word. Each side's
//! write comes before its read (`SeqCst`, and a system call between), so at least one of
//! them sees the other.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::{gone, SysvChannel};
use crate::ready::{Readiness, Wait};
use crate::sys::{self, SharedMap};

/// One 8-byte word is all the mapping holds.
const WORD: usize = 8;

/// See the [module docs](self).
#[derive(Debug)]
pub(super) struct Bell {
    fd: EventFd,
    /// One word: hub endpoints armed now (any process).
    parked: SharedMap,
    /// Whether this handle announced itself.
    armed: AtomicBool,
}

impl Bell {
    /// `None` when the process cannot have two more descriptors: the hub then polls.
    pub(super) fn new() -> Option<Self> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC).ok()?;
        let memfd = memfd_create(c"zeus-sysv-bell", MFdFlags::MFD_CLOEXEC).ok()?;
        let file = File::from(memfd);
        file.set_len(WORD as u64).ok()?;
        let parked = SharedMap::map(&file, WORD).ok()?;
        Some(Self {
            fd,
            parked,
            armed: AtomicBool::new(false),
        })
    }

    fn parked(&self) -> &AtomicU64 {
        // The mapping is WORD bytes at a page boundary: one aligned word fits.
        &self
            .parked
            .words(0, 1)
            .expect("invariant: the bell maps one word")[0]
    }

    /// After a message was queued for the hub: rings if a hub endpoint sleeps on the bell.
    pub(super) fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.parked().load(Ordering::SeqCst) != 0 {
            // EAGAIN (the counter is full) still leaves it readable.
            let _ = self.fd.write(1);
        }
    }
}

impl Readiness for SysvChannel {
    fn arm(&self) -> Wait<'_> {
        let Some(bell) = self.shared.bell.as_ref().filter(|_| self.mailbox.is_hub()) else {
            return Wait::Timer;
        };
        if bell.armed.load(Ordering::Relaxed) {
            return Wait::Fd(bell.fd.as_fd());
        }
        bell.parked().fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        match sys::msg_queued(self.shared.to_hub) {
            Ok(0) => {
                bell.armed.store(true, Ordering::Relaxed);
                Wait::Fd(bell.fd.as_fd())
            }
            // A message waits, or the queue is gone: `try_recv` says which.
            Ok(_) => {
                bell.parked().fetch_sub(1, Ordering::SeqCst);
                Wait::Ready
            }
            Err(e) => {
                bell.parked().fetch_sub(1, Ordering::SeqCst);
                if gone(e) {
                    Wait::Ready
                } else {
                    Wait::Timer
                }
            }
        }
    }

    fn disarm(&self) {
        let Some(bell) = self.shared.bell.as_ref().filter(|_| self.mailbox.is_hub()) else {
            return;
        };
        if bell.armed.swap(false, Ordering::Relaxed) {
            bell.parked().fetch_sub(1, Ordering::SeqCst);
            // EAGAIN: not rung.
            let _ = bell.fd.read();
        }
    }
}
