//! Scheduler disciplines (`scheduler_discipline`): which idle workers end when a pool has
//! more spare workers than `max_spare_processes` (as ZEUS's DisciplineInterface).
//!
//! Contract: `pick` returns at most `n` slots, each taken from `idle`, without repeats, most
//! deserving first; it decides only, the scheduler acts. Ties fall back to least recently
//! active first, so every discipline is deterministic.

mod lru;
mod memory;
mod most_tasks;

pub use lru::Lru;
pub use memory::Memory;
pub use most_tasks::MostTasks;

/// What a discipline knows of an idle worker (or idle unit of workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleWorker {
    /// First scoreboard slot of the unit.
    pub slot: usize,
    /// Unix ms since which it has been idle.
    pub idle_since_ms: u64,
    /// Tasks it has done.
    pub tasks: u64,
    /// Resident memory of its process (0 unless the discipline asked for it).
    pub rss_bytes: u64,
}

/// Chooses idle workers to end.
pub trait Discipline {
    /// The config name.
    fn name(&self) -> &'static str;

    /// Up to `n` workers from `idle` to end, most deserving first.
    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize>;

    /// Whether `pick` needs `rss_bytes` (read from /proc, so only when asked).
    fn wants_rss(&self) -> bool {
        false
    }
}

/// Sorts by `key` (greatest first), then least recently active, and takes `n` slots.
fn pick_by<K: Ord>(idle: &[IdleWorker], n: usize, key: impl Fn(&IdleWorker) -> K) -> Vec<usize> {
    let mut v: Vec<&IdleWorker> = idle.iter().collect();
    v.sort_by(|a, b| {
        key(b)
            .cmp(&key(a))
            .then(a.idle_since_ms.cmp(&b.idle_since_ms))
            .then(a.slot.cmp(&b.slot))
    });
    v.into_iter().take(n).map(|w| w.slot).collect()
}

#[cfg(test)]
pub(crate) fn w(slot: usize, idle_since_ms: u64, tasks: u64, rss_bytes: u64) -> IdleWorker {
    IdleWorker {
        slot,
        idle_since_ms,
        tasks,
        rss_bytes,
    }
}
