//! The access log: one line per answered request (refusals included), in the combined log
//! format (`combined`), written by a logger chosen with `logger_adapter` (ZEUS's setting of
//! the same name):
//!
//! - `file` (default): `access_log` names a file (appended to) or `stdout`; empty is off;
//! - `zeus`: each line becomes an `info` event of zeus's own log, which worker processes send
//!   to their scheduler, the one writer of the service's lines (`zeus_core::logging`);
//! - any name registered with `Http::access_logger`: an application's `AccessLogger`.
//!
//! Contract of an `AccessLogger`:
//! - `log` runs in the worker's event loop, after each reply is queued: it must not block
//!   for long (a slow logger slows every connection of the worker);
//! - it may be called from several threads at once (thread and hybrid MPMs), and from
//!   several processes (each forked worker has its own copy, made after the fork);
//! - a line must never be torn or interleaved with another: write it whole.

pub mod combined;
pub mod file;
pub mod zeus;

use std::io;
use std::sync::Arc;

pub use combined::{request_line, Entry};

/// Writes access log entries.
pub trait AccessLogger: Send + Sync {
    /// Logs one exchange.
    fn log(&self, entry: &Entry<'_>);
}

/// The `logger_adapter` of the built-in file (or stdout) logger.
pub const FILE: &str = "file";
/// The `logger_adapter` that sends lines to zeus's own log.
pub const ZEUS: &str = "zeus";

/// Opens the configured logger in a worker (after the fork, so each worker process has its
/// own file description); `None` when the log is off. `custom` is the registered logger
/// named by `logger_adapter`, if it is not built in.
pub fn open(
    adapter: &str,
    access_log: &str,
    custom: Option<&Arc<dyn AccessLogger>>,
) -> io::Result<Option<Arc<dyn AccessLogger>>> {
    Ok(match (adapter, custom) {
        (FILE, _) if access_log.is_empty() => None,
        (FILE, _) => Some(Arc::new(file::FileLog::open(access_log)?)),
        (ZEUS, _) => Some(Arc::new(zeus::ZeusLog)),
        (_, Some(c)) => Some(c.clone()),
        (other, None) => {
            return Err(io::Error::other(format!(
                "invariant: logger_adapter {other:?} was validated"
            )))
        }
    })
}
