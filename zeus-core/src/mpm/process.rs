//! `process`: one forked process per worker (prefork, like httpd's prefork MPM).
//!
//! The child dies with its scheduler (`PR_SET_PDEATHSIG` = SIGKILL, plus a parent check right
//! after the fork for the window before the prctl), receives stop requests as SIGTERM through
//! a signalfd (so a stop never interrupts a task; SIGUSR1 there is the mail doorbell), and leaves with `_exit` semantics: no
//! destructor of the scheduler's state runs in the child.

use super::children::Children;
use super::{Capabilities, Mpm, WorkerBody, WorkerExit, WorkerStart};
use crate::error::CoreError;

/// The prefork MPM.
#[derive(Debug, Default)]
pub struct ProcessMpm {
    children: Children,
}

impl Mpm for ProcessMpm {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forks: true,
            threads: false,
            unit: 1,
            can_kill: true,
            own_memory: true,
        }
    }

    fn spawn(&mut self, first: usize, body: &WorkerBody) -> Result<u32, CoreError> {
        self.children.fork(first..first + 1, body, |mut stop| {
            let run = std::panic::AssertUnwindSafe(|| {
                body.run(WorkerStart {
                    slot: first,
                    stop: &mut stop,
                    unit_tasks: None,
                })
            });
            std::panic::catch_unwind(run).unwrap_or(101)
        })
    }

    fn stop(&mut self, slot: usize) {
        self.children.stop(slot);
    }

    fn kill(&mut self, slot: usize) {
        self.children.kill(slot);
    }

    fn notify(&mut self, slot: usize) {
        self.children.notify(slot);
    }

    fn reap(&mut self) -> Vec<WorkerExit> {
        self.children.reap()
    }

    fn live(&self) -> usize {
        self.children.len()
    }
}
