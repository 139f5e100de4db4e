//! Forked child processes of a scheduler, each holding a range of slots: the bookkeeping the
//! `process` and `hybrid` MPMs share (fork with parent-death guard, stop, kill, reap).

use std::collections::HashMap;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{ExitStatus, WorkerBody, WorkerExit};
use crate::error::CoreError;
use crate::sys::{self, Forked, Signals};
use crate::worker::StopSignal;

/// The "mail" doorbell: a command waits in the worker's mailbox (the scheduler holds it
/// blocked, so a child inherits it blocked until its signalfd reads it).
pub(super) const MAIL_SIGNAL: Signal = Signal::SIGUSR1;
/// Everything a worker process reads from its signalfd: SIGTERM, SIGINT and SIGHUP mean
/// "stop after the tasks in hand", [`MAIL_SIGNAL`] the doorbell.
const WORKER_SIGNALS: &[Signal] = &[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, MAIL_SIGNAL];

/// Child processes by pid, with their slots.
#[derive(Debug, Default)]
pub(super) struct Children {
    pids: HashMap<i32, Range<usize>>,
}

impl Children {
    /// Forks a child for `slots` that runs `main` and exits with its code. In the child,
    /// `body.start_process` runs first (before any thread), then `main` gets the stop
    /// signalfd; the child dies with the scheduler (PDEATHSIG).
    pub fn fork(
        &mut self,
        slots: Range<usize>,
        body: &WorkerBody,
        main: impl FnOnce(ProcessStop) -> i32,
    ) -> Result<u32, CoreError> {
        let parent = nix::unistd::getpid();
        match sys::fork()? {
            Forked::Parent(pid) => {
                self.pids.insert(pid.as_raw(), slots);
                Ok(pid.as_raw() as u32)
            }
            Forked::Child => {
                if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
                    || nix::unistd::getppid() != parent
                {
                    std::process::exit(70);
                }
                if let Err(e) = body.start_process() {
                    tracing::error!("worker process refused to start: {e}");
                    std::process::exit(73);
                }
                let code = match Signals::new(WORKER_SIGNALS) {
                    Ok(s) => main(ProcessStop {
                        signals: s,
                        mail: false,
                    }),
                    Err(_) => 71,
                };
                std::process::exit(code)
            }
        }
    }

    fn pid_of(&self, slot: usize) -> Option<Pid> {
        self.pids
            .iter()
            .find(|(_, r)| r.contains(&slot))
            .map(|(p, _)| Pid::from_raw(*p))
    }

    /// SIGTERM to the child holding `slot`.
    pub fn stop(&self, slot: usize) {
        if let Some(pid) = self.pid_of(slot) {
            let _ = kill(pid, Signal::SIGTERM);
        }
    }

    /// The mail doorbell to the child holding `slot`.
    pub fn notify(&self, slot: usize) {
        if let Some(pid) = self.pid_of(slot) {
            let _ = kill(pid, MAIL_SIGNAL);
        }
    }

    /// SIGKILL to the child holding `slot`.
    pub fn kill(&self, slot: usize) {
        if let Some(pid) = self.pid_of(slot) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    /// Children that have ended, without blocking.
    pub fn reap(&mut self) -> Vec<WorkerExit> {
        let mut out = Vec::new();
        loop {
            let (pid, status) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, ExitStatus::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            };
            if let Some(slots) = self.pids.remove(&pid.as_raw()) {
                out.push(WorkerExit {
                    slots,
                    pid: pid.as_raw() as u32,
                    status,
                });
            }
        }
        out
    }

    /// Children not yet reaped.
    pub fn len(&self) -> usize {
        self.pids.len()
    }
}

/// A worker process's stop signal: SIGTERM/SIGINT/SIGHUP read from a signalfd, which also
/// reads the mail doorbell (SIGUSR1).
pub(super) struct ProcessStop {
    signals: Signals,
    mail: bool,
}

impl StopSignal for ProcessStop {
    fn fd(&self) -> BorrowedFd<'_> {
        self.signals.as_fd()
    }

    fn requested(&mut self) -> bool {
        let mut any = false;
        while let Some(sig) = self.signals.next() {
            if sig == MAIL_SIGNAL {
                self.mail = true;
            } else {
                any = true;
            }
        }
        any
    }

    fn take_mail(&mut self) -> bool {
        std::mem::take(&mut self.mail)
    }
}
