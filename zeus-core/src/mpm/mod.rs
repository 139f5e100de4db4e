//! Multi-Processing Modules: how a scheduler runs its workers (`multiprocessing_module`).
//!
//! Contract, like httpd's `ap_mpm.h`:
//! - a forking MPM forks only from a single-threaded process (`sys::fork` enforces it);
//!   a process that runs threads never forks afterwards;
//! - a worker runs `WorkerBody` and nothing else; a `Service` cannot tell which MPM runs it;
//! - `stop` is graceful (the worker ends between tasks), `kill` is immediate where the MPM
//!   can do it;
//! - `reap` reports every worker that has ended, once, with how it ended;
//! - callers ask `capabilities()` instead of testing which MPM they have.

mod process;

pub use process::ProcessMpm;

use std::sync::Arc;

use crate::error::CoreError;
use crate::worker::StopSignal;

/// What an MPM does, asked instead of matching on its name (httpd's `ap_mpm_query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Workers are separate processes.
    pub forks: bool,
    /// Workers are threads.
    pub threads: bool,
}

/// The code a worker runs: given its scoreboard slot and stop signal, returns an exit code.
pub type WorkerBody = Arc<dyn Fn(usize, &mut dyn StopSignal) -> i32 + Send + Sync>;

/// How a worker ended.
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

/// A worker that has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerExit {
    /// Its scoreboard slot.
    pub slot: usize,
    /// Its pid.
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
}

/// A way of running workers.
pub trait Mpm {
    /// The config name (`process`).
    fn name(&self) -> &'static str;

    /// What this MPM does.
    fn capabilities(&self) -> Capabilities;

    /// Starts a worker in `slot` running `body`; returns its pid.
    fn spawn(&mut self, slot: usize, body: &WorkerBody) -> Result<u32, CoreError>;

    /// Asks the worker in `slot` to end after its current task.
    fn stop(&mut self, slot: usize);

    /// Ends the worker in `slot` now.
    fn kill(&mut self, slot: usize);

    /// Collects ended workers without blocking.
    fn reap(&mut self) -> Vec<WorkerExit>;

    /// Workers started and not yet reaped.
    fn live(&self) -> usize;
}

/// Names accepted for `multiprocessing_module`.
pub fn names() -> Vec<String> {
    vec!["process".to_string()]
}

/// Builds the MPM named in config.
pub fn create(name: &str) -> Option<Box<dyn Mpm>> {
    match name {
        "process" => Some(Box::new(ProcessMpm::default())),
        _ => None,
    }
}
