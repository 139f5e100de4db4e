//! The `newest_first` discipline: end the most recently active idle worker first, keeping the
//! workers that have been idle longest (the opposite of the built-in `lru`).

use zeus_core::discipline::{Discipline, IdleWorker};

pub struct NewestFirst;

impl Discipline for NewestFirst {
    fn name(&self) -> &'static str {
        "newest_first"
    }

    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize> {
        let mut v: Vec<&IdleWorker> = idle.iter().collect();
        v.sort_by_key(|w| std::cmp::Reverse((w.idle_since_ms, w.slot)));
        v.into_iter().take(n).map(|w| w.slot).collect()
    }
}
