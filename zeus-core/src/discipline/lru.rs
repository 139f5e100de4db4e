//! `lru`, the default (as in ZEUS): end the workers that have been idle the longest.

use super::{Discipline, IdleWorker};

/// Least recently used first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lru;

impl Discipline for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize> {
        let mut v: Vec<&IdleWorker> = idle.iter().collect();
        v.sort_by_key(|w| (w.idle_since_ms, w.slot));
        v.into_iter().take(n).map(|w| w.slot).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_idle_first_and_bounded() {
        let w = |slot, idle_since_ms| IdleWorker {
            slot,
            idle_since_ms,
            tasks: 0,
        };
        let idle = [w(0, 300), w(1, 100), w(2, 200)];
        assert_eq!(Lru.pick(&idle, 2), vec![1, 2]);
        assert_eq!(Lru.pick(&idle, 10), vec![1, 2, 0]);
        assert!(Lru.pick(&[], 3).is_empty());
    }
}
