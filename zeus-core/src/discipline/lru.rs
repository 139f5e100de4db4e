//! `lru`, the default (as in ZEUS): end the workers that have been idle the longest.

use super::{pick_by, Discipline, IdleWorker};

/// Least recently used first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lru;

impl Discipline for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize> {
        pick_by(idle, n, |_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::super::w;
    use super::*;

    #[test]
    fn oldest_idle_first_and_bounded() {
        let idle = [w(0, 300, 0, 0), w(1, 100, 9, 0), w(2, 200, 0, 0)];
        assert_eq!(Lru.pick(&idle, 2), vec![1, 2]);
        assert_eq!(Lru.pick(&idle, 10), vec![1, 2, 0]);
        assert!(Lru.pick(&[], 3).is_empty());
    }
}
