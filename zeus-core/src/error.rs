//! The error type of zeus-core's runtime (configuration errors are `config::ConfigErrors`).

use std::path::PathBuf;

/// What can go wrong while running zeus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A plain I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An I/O failure on a named path.
    #[error("{path}: {error}")]
    Path {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}: {errno}")]
    Sys {
        /// The call that failed.
        call: &'static str,
        /// Its errno.
        errno: nix::errno::Errno,
    },
    /// `fork` was asked of a process that runs threads.
    #[error("refusing to fork: this process runs {0} threads (a forked child would inherit their locks)")]
    MultiThreadedFork(usize),
    /// `fork(2)` itself failed.
    #[error("fork failed: {0}")]
    Fork(nix::errno::Errno),
    /// Another instance holds the run directory.
    #[error("another zeus instance (pid {pid}) is already running with run dir {run_dir}")]
    AlreadyRunning {
        /// Pid of the running manager.
        pid: i32,
        /// The contested run directory.
        run_dir: PathBuf,
    },
    /// No instance runs for that run directory.
    #[error("zeus is not running (run dir {0})")]
    NotRunning(PathBuf),
    /// The running instance answered with an error, or not as expected.
    #[error("{0}")]
    Control(String),
    /// The scheduler-worker channel could not be created.
    #[error("scheduler channel: {0}")]
    IpcCreate(#[from] zeus_ipc::CreateError),
    /// A worker's end of the scheduler channel could not be made.
    #[error("scheduler channel: {0}")]
    IpcOpen(#[from] zeus_ipc::OpenError),
    /// The scheduler channel's name is not valid.
    #[error("scheduler channel name: {0}")]
    IpcName(#[from] zeus_ipc::NameError),
    /// Configuration refused.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),
}

impl CoreError {
    /// Wraps a nix error with the name of the failed call.
    pub fn sys(call: &'static str) -> impl FnOnce(nix::errno::Errno) -> Self {
        move |errno| Self::Sys { call, errno }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn path(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| Self::Path { path, error }
    }
}
