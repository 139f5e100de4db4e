//! Multi-Processing Modules: how a scheduler runs its workers (`multiprocessing_module`).
//!
//! Contract, like httpd's `ap_mpm.h`:
//! - a forking MPM forks only from a single-threaded process (`sys::fork` enforces it);
//!   a process that runs threads never forks afterwards;
//! - an MPM starts workers in *units* of `Capabilities::unit` consecutive scoreboard slots
//!   (1 for `process` and `thread`, `threads_per_process` for `hybrid`) and ends them a whole
//!   unit at a time;
//! - a worker runs `WorkerBody::run` and nothing else; a `Service` cannot tell which MPM runs it;
//! - each process that hosts workers calls `WorkerBody::start_process` once, before its first
//!   worker runs (a forked child right after the fork, before it starts threads; the
//!   `thread` MPM in the scheduler before its first thread), and runs no worker if it fails
//!   (plugins drop privileges there);
//! - `stop` is graceful (workers end between tasks), `kill` is immediate where the MPM can do
//!   it (`Capabilities::can_kill`; threads cannot be killed, they end with their process);
//!   `stop` never depends on the scheduler channel: it is a signal or a socket byte;
//! - `notify` rings a unit's doorbell: each of its workers reads its mailbox when it is next
//!   between tasks (or at once, when idle), without stopping;
//! - `reap` reports every unit that has ended, once, with how it ended;
//! - callers ask `capabilities()` instead of testing which MPM they have.

mod children;
mod hybrid;
mod process;
mod thread;
mod threads;

pub use hybrid::HybridMpm;
pub use process::ProcessMpm;
pub use thread::ThreadMpm;

use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::error::CoreError;
use crate::worker::StopSignal;

/// What an MPM does, asked instead of matching on its name (httpd's `ap_mpm_query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Workers live in processes of their own (forked by the scheduler).
    pub forks: bool,
    /// Workers are threads.
    pub threads: bool,
    /// Slots started and ended together.
    pub unit: usize,
    /// `kill` ends workers at once.
    pub can_kill: bool,
    /// Each unit has memory of its own (so `max_process_memory` means something).
    pub own_memory: bool,
}

/// What a worker gets from its MPM when it starts.
pub struct WorkerStart<'a> {
    /// Its scoreboard slot.
    pub slot: usize,
    /// How it learns it must stop.
    pub stop: &'a mut dyn StopSignal,
    /// Tasks done by the whole unit, when the unit's workers share `max_process_tasks`.
    pub unit_tasks: Option<&'a AtomicU64>,
}

type Run = dyn Fn(WorkerStart<'_>) -> i32 + Send + Sync;
type StartProcess = dyn Fn() -> Result<(), CoreError> + Send + Sync;

/// The code workers run: `start_process` once per process that hosts workers, then `run` per
/// worker, which returns an exit code (0: ended normally). Cloning shares the code.
#[derive(Clone)]
pub struct WorkerBody {
    run: Arc<Run>,
    start_process: Arc<StartProcess>,
}

impl std::fmt::Debug for WorkerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerBody")
    }
}

impl WorkerBody {
    /// A body whose processes need no preparation.
    pub fn new(run: impl Fn(WorkerStart<'_>) -> i32 + Send + Sync + 'static) -> Self {
        Self {
            run: Arc::new(run),
            start_process: Arc::new(|| Ok(())),
        }
    }

    /// Sets what each process that hosts workers does before its first worker runs.
    pub fn with_start_process(
        mut self,
        f: impl Fn() -> Result<(), CoreError> + Send + Sync + 'static,
    ) -> Self {
        self.start_process = Arc::new(f);
        self
    }

    /// Runs one worker.
    pub fn run(&self, start: WorkerStart<'_>) -> i32 {
        (self.run)(start)
    }

    /// Prepares the calling process for its workers; an error means it must run none.
    pub fn start_process(&self) -> Result<(), CoreError> {
        (self.start_process)()
    }
}

/// How a unit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Returned (or exited) with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn is_clean(self) -> bool {
        self == Self::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit code {c}"),
            Self::Signal(s) => match nix::sys::signal::Signal::try_from(*s) {
                Ok(sig) => write!(f, "signal {} ({})", s, sig.as_str()),
                Err(_) => write!(f, "signal {s}"),
            },
        }
    }
}

/// A unit that has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerExit {
    /// Its scoreboard slots.
    pub slots: Range<usize>,
    /// Pid of its process.
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
}

/// A way of running workers.
pub trait Mpm {
    /// The config name.
    fn name(&self) -> &'static str;

    /// What this MPM does.
    fn capabilities(&self) -> Capabilities;

    /// Starts a unit on slots `first .. first + unit`; returns the pid that runs it.
    fn spawn(&mut self, first: usize, body: &WorkerBody) -> Result<u32, CoreError>;

    /// Asks the unit holding `slot` to end after the tasks in hand.
    fn stop(&mut self, slot: usize);

    /// Ends the unit holding `slot` now, where possible.
    fn kill(&mut self, slot: usize);

    /// Wakes the workers of the unit holding `slot` to read their mailboxes (the scheduler
    /// sent them a command). Without it, they read their mailboxes only when asked to stop.
    fn notify(&mut self, _slot: usize) {}

    /// Collects ended units without blocking.
    fn reap(&mut self) -> Vec<WorkerExit>;

    /// Units started and not yet reaped.
    fn live(&self) -> usize;

    /// A descriptor that becomes readable when a unit ends, for MPMs that SIGCHLD does not
    /// cover (threads).
    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}
