//! Where items live: the pluggable concept behind `service_settings.backend`.
//!
//! - `shm` (default): the segment store in one anonymous `MAP_SHARED` mapping, created before
//!   the workers are forked, so every worker process and thread sees it;
//! - `memory`: the same segment store in a process-private mapping (valid only when the whole
//!   service is one process: the `thread` MPM);
//! - `filesystem`: one file per item under a directory ([`super::fs`]); the counters, CAS
//!   counter, flush marks and per-shard robust locks stay in the (small) shared segment.
//!
//! The segment store is built into [`Store`]; other backends implement [`Backend`] and are
//! reached through the same [`Item`](super::meta::Item) seam, so command semantics are shared.

use std::path::PathBuf;

use super::meta::Entry;
use super::Store;

/// `service_settings.backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// Shared anonymous mapping (every worker process sees it).
    Shm,
    /// Process-private mapping (one process only).
    Memory,
    /// One file per item under this directory.
    Filesystem(PathBuf),
}

/// Items kept outside the segment. `st` is the store whose header holds the counters, CAS
/// counter, flush marks and shard locks the backend must use.
pub trait Backend: std::fmt::Debug + Send + Sync {
    /// Locks `key`, looks it up (removing it when expired or flushed) and runs `f` once on
    /// its entry.
    fn entry(&self, st: &Store, key: &[u8], now: u32, f: &mut dyn FnMut(&mut Entry<'_>));

    /// Live items and their bytes.
    fn usage(&self) -> (u64, u64);

    /// Calls `f(size, cas, time)` for every item (for `stats items|slabs|sizes`).
    fn walk(&self, st: &Store, f: &mut dyn FnMut(usize, u64, u32));

    /// A `flush_all` took effect now: the backend may drop flushed items eagerly.
    fn flushed(&self, st: &Store, now: u32);

    /// A `flush_all` changed the flush mark ([`Store::flush_mark`]): a backend whose items
    /// outlive the process keeps a delayed one pending across a restart.
    fn flush_marked(&self, st: &Store, now: u32);
}
