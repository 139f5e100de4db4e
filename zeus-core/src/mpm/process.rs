//! `process`: one forked process per worker (prefork, like httpd's prefork MPM).
//!
//! The child dies with its scheduler (`PR_SET_PDEATHSIG` = SIGKILL, plus a parent check right
//! after the fork for the window before the prctl), receives stop requests as SIGTERM through
//! a signalfd (so a stop never interrupts a task), and leaves with `_exit` semantics: no
//! destructor of the scheduler's state runs in the child.

use std::collections::HashMap;
use std::os::fd::BorrowedFd;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{Capabilities, ExitStatus, Mpm, WorkerBody, WorkerExit};
use crate::error::CoreError;
use crate::sys::{self, Forked, Signals};
use crate::worker::StopSignal;

/// Signals a process worker treats as "stop after this task".
const STOP_SIGNALS: &[Signal] = &[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// The prefork MPM.
#[derive(Debug, Default)]
pub struct ProcessMpm {
    pids: HashMap<i32, usize>,
}

impl ProcessMpm {
    fn pid_of(&self, slot: usize) -> Option<Pid> {
        self.pids
            .iter()
            .find(|(_, s)| **s == slot)
            .map(|(p, _)| Pid::from_raw(*p))
    }
}

impl Mpm for ProcessMpm {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forks: true,
            threads: false,
        }
    }

    fn spawn(&mut self, slot: usize, body: &WorkerBody) -> Result<u32, CoreError> {
        let parent = nix::unistd::getpid();
        match sys::fork()? {
            Forked::Parent(pid) => {
                self.pids.insert(pid.as_raw(), slot);
                Ok(pid.as_raw() as u32)
            }
            Forked::Child => {
                let code = child_main(parent, slot, body);
                std::process::exit(code)
            }
        }
    }

    fn stop(&mut self, slot: usize) {
        if let Some(pid) = self.pid_of(slot) {
            let _ = kill(pid, Signal::SIGTERM);
        }
    }

    fn kill(&mut self, slot: usize) {
        if let Some(pid) = self.pid_of(slot) {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }

    fn reap(&mut self) -> Vec<WorkerExit> {
        let mut out = Vec::new();
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, ExitStatus::Signal(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            };
            if let Some(slot) = self.pids.remove(&status.0.as_raw()) {
                out.push(WorkerExit {
                    slot,
                    pid: status.0.as_raw() as u32,
                    status: status.1,
                });
            }
        }
        out
    }

    fn live(&self) -> usize {
        self.pids.len()
    }
}

fn child_main(parent: Pid, slot: usize, body: &WorkerBody) -> i32 {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || nix::unistd::getppid() != parent
    {
        return 70;
    }
    // The scheduler's own signals (SIGCHLD, SIGUSR1) stay blocked but unread here; the
    // stop signals get a signalfd of the worker's own.
    let mut stop = match Signals::new(STOP_SIGNALS) {
        Ok(s) => ProcessStop(s),
        Err(_) => return 71,
    };
    let run = std::panic::AssertUnwindSafe(|| body(slot, &mut stop));
    std::panic::catch_unwind(run).unwrap_or(101)
}

/// A process worker's stop signal: SIGTERM/SIGINT/SIGHUP read from a signalfd.
struct ProcessStop(Signals);

impl StopSignal for ProcessStop {
    fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    fn requested(&mut self) -> bool {
        let mut any = false;
        while self.0.next().is_some() {
            any = true;
        }
        any
    }
}
