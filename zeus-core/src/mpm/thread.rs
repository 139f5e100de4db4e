//! `thread`: workers are threads of the scheduler process (a pool whose size the scheduler
//! changes at run time). Cheap workers that share memory; a crash (panic) ends one thread,
//! but a fault such as a segfault ends the whole pool, which the manager then restarts.
//! The scheduler never forks once its threads run (`sys::fork` would refuse anyway).

use std::os::fd::BorrowedFd;

use super::threads::WorkerThreads;
use super::{Capabilities, ExitStatus, Mpm, WorkerBody, WorkerExit};
use crate::error::CoreError;

/// The thread-pool MPM.
pub struct ThreadMpm {
    threads: WorkerThreads,
    /// `WorkerBody::start_process` has succeeded in this (the scheduler's) process.
    started: bool,
}

impl std::fmt::Debug for ThreadMpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThreadMpm({} threads)", self.threads.len())
    }
}

impl ThreadMpm {
    /// A pool with no thread yet.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            threads: WorkerThreads::new()?,
            started: false,
        })
    }
}

impl Mpm for ThreadMpm {
    fn name(&self) -> &'static str {
        "thread"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forks: false,
            threads: true,
            unit: 1,
            can_kill: false,
            own_memory: false,
        }
    }

    fn spawn(&mut self, first: usize, body: &WorkerBody) -> Result<u32, CoreError> {
        // Workers live in this process: prepare it once, before the first thread exists.
        if !self.started {
            body.start_process()?;
            self.started = true;
        }
        self.threads.spawn(first, body, None)?;
        Ok(std::process::id())
    }

    fn stop(&mut self, slot: usize) {
        self.threads.stop(slot);
    }

    fn kill(&mut self, slot: usize) {
        // A thread cannot be killed; it ends with its process.
        self.threads.stop(slot);
    }

    fn notify(&mut self, slot: usize) {
        self.threads.notify(slot);
    }

    fn reap(&mut self) -> Vec<WorkerExit> {
        let pid = std::process::id();
        self.threads
            .reap()
            .into_iter()
            .map(|(slot, code)| WorkerExit {
                slots: slot..slot + 1,
                pid,
                status: ExitStatus::Code(code),
            })
            .collect()
    }

    fn live(&self) -> usize {
        self.threads.len()
    }

    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.threads.wake_fd())
    }
}
