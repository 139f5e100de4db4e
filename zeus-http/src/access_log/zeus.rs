//! `ZeusLog` (`logger_adapter = "zeus"`): each combined line becomes an `info` event of zeus's
//! own log (target `access`), so it takes zeus's format (text or JSON), its level filter and
//! its output. A worker process does not write it: `zeus_core::logging` sends it through the
//! scheduler channel to the scheduler, the one writer of the service's lines, so lines from
//! many workers never tear wherever the log goes. A line longer than a channel message
//! (about 4000 bytes), or one sent while the channel is full, is written by the worker
//! itself, whole, in one `write(2)` (zeus counts these and reports them when it exits).

use super::combined::{line, Entry};
use super::AccessLogger;

/// The logger that goes through zeus's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeusLog;

impl AccessLogger for ZeusLog {
    fn log(&self, entry: &Entry<'_>) {
        let line = line(entry);
        tracing::info!(target: "access", "{}", line.trim_end());
    }
}
