//! `memory`: end the idle worker whose process has the largest resident memory.

use super::{pick_by, Discipline, IdleWorker};

/// Largest RSS first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory;

impl Discipline for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize> {
        pick_by(idle, n, |w| w.rss_bytes)
    }

    fn wants_rss(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::w;
    use super::*;

    #[test]
    fn largest_first() {
        let idle = [
            w(0, 100, 0, 10 << 20),
            w(1, 100, 0, 90 << 20),
            w(2, 50, 0, 10 << 20),
        ];
        assert_eq!(Memory.pick(&idle, 2), vec![1, 2]);
        assert!(Memory.wants_rss());
    }
}
