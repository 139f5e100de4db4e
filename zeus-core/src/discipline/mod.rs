//! Scheduler disciplines (`scheduler_discipline`): which idle workers end when a pool has
//! more spare workers than `max_spare_processes`.
//!
//! Contract: `pick` returns at most `n` slots, each taken from `idle`, without repeats; it
//! decides only, the scheduler acts.

mod lru;

pub use lru::Lru;

/// What a discipline knows of an idle worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleWorker {
    /// Scoreboard slot.
    pub slot: usize,
    /// Unix ms since which it has been idle.
    pub idle_since_ms: u64,
    /// Tasks it has done.
    pub tasks: u64,
}

/// Chooses idle workers to end.
pub trait Discipline {
    /// The config name.
    fn name(&self) -> &'static str;

    /// Up to `n` workers from `idle` to end, most deserving first.
    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize>;
}

/// Names accepted for `scheduler_discipline`.
pub fn names() -> Vec<String> {
    vec!["lru".to_string()]
}

/// Builds the discipline named in config.
pub fn create(name: &str) -> Option<Box<dyn Discipline>> {
    match name {
        "lru" => Some(Box::new(Lru)),
        _ => None,
    }
}
