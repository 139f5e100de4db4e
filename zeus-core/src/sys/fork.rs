//! Guarded `fork(2)`: the single place zeus creates processes.

use nix::unistd::{ForkResult, Pid};

use crate::error::CoreError;

/// What `fork` returned, seen from this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// We are the parent; the child has this pid.
    Parent(Pid),
    /// We are the new child.
    Child,
}

/// Number of threads of the calling process, read from `/proc/self/status`.
pub(super) fn thread_count() -> std::io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no Threads: line in /proc/self/status"))
}

/// Forks the calling process, refusing to do so when it runs more than one thread.
pub fn fork() -> Result<Forked, CoreError> {
    let threads = thread_count().map_err(CoreError::Io)?;
    if threads != 1 {
        return Err(CoreError::MultiThreadedFork(threads));
    }
    // SAFETY: the process has exactly one thread (checked just above), so no lock can be held
    // by another thread at the time of the fork and the child may run arbitrary code.
    match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(ForkResult::Child) => Ok(Forked::Child),
        Err(e) => Err(CoreError::Fork(e)),
    }
}
