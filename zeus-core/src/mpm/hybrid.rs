//! `hybrid`: processes × `threads_per_process` threads, like httpd's worker MPM. The
//! scheduler forks processes (it is single-threaded); each child starts its fixed pool of
//! threads only after the fork and never forks again. A process is one unit: it starts and
//! ends whole, and its threads share `max_process_tasks`. When one thread ends (its share of
//! the task budget used up, a panic, or a stop request) the child stops all the others, so the
//! process is recycled as a whole.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::children::{Children, ProcessStop};
use super::threads::WorkerThreads;
use super::{Capabilities, Mpm, WorkerBody, WorkerExit};
use crate::error::CoreError;
use crate::worker::StopSignal;

/// The processes × threads MPM.
#[derive(Debug)]
pub struct HybridMpm {
    children: Children,
    threads: usize,
}

impl HybridMpm {
    /// Each process runs `threads_per_process` worker threads.
    pub fn new(threads_per_process: usize) -> Self {
        Self {
            children: Children::default(),
            threads: threads_per_process.max(1),
        }
    }
}

impl Mpm for HybridMpm {
    fn name(&self) -> &'static str {
        "hybrid"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            forks: true,
            threads: true,
            unit: self.threads,
            can_kill: true,
            own_memory: true,
        }
    }

    fn spawn(&mut self, first: usize, body: &WorkerBody) -> Result<u32, CoreError> {
        let n = self.threads;
        self.children.fork(first..first + n, body, |stop| {
            child_main(first, n, body, stop)
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

/// The child: start the threads, relay a stop (and the mail doorbell) to all of them, exit
/// when all have ended.
fn child_main(first: usize, n: usize, body: &WorkerBody, mut stop: ProcessStop) -> i32 {
    let Ok(mut threads) = WorkerThreads::new() else {
        return 72;
    };
    let unit_tasks = Arc::new(AtomicU64::new(0));
    for slot in first..first + n {
        if threads.spawn(slot, body, Some(unit_tasks.clone())).is_err() {
            threads.stop_all();
            break;
        }
    }
    let mut code = 0;
    let mut stopping = false;
    while threads.len() > 0 {
        let mut fds = [
            PollFd::new(stop.fd(), PollFlags::POLLIN),
            PollFd::new(threads.wake_fd(), PollFlags::POLLIN),
        ];
        let _ = nix::poll::poll(&mut fds, PollTimeout::NONE);
        let stop_requested = stop.requested();
        if stop.take_mail() {
            threads.notify_all();
        }
        let ended = threads.reap();
        if let Some(&(_, c)) = ended.iter().find(|(_, c)| *c != 0) {
            code = c;
        }
        if !stopping && (stop_requested || !ended.is_empty()) {
            threads.stop_all();
            stopping = true;
        }
    }
    code
}
