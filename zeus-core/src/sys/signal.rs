//! Signals are received synchronously: blocked in the mask and read from a `signalfd`, so no
//! handler ever runs in the middle of zeus code and `poll` can wait on signals and sockets.

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals a zeus process reacts to.
pub type SignalSet = &'static [Signal];

/// Adds `signals` to the blocked mask of the calling thread (inherited across fork).
fn block_signals(signals: SignalSet) -> nix::Result<()> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
}

/// A non-blocking signalfd over a set of blocked signals.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks `signals` and opens a signalfd that reports them.
    pub fn new(signals: SignalSet) -> nix::Result<Self> {
        block_signals(signals)?;
        let mut set = SigSet::empty();
        for s in signals {
            set.add(*s);
        }
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Self { fd })
    }

    /// Next pending signal, if any (never blocks).
    pub fn next(&mut self) -> Option<Signal> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => {
                    if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                        return Some(sig);
                    }
                }
                Ok(None) => return None,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
