//! `most_tasks`: end the idle worker that has handled the most tasks (the one most likely to
//! have accumulated leaks or fragmentation).

use super::{pick_by, Discipline, IdleWorker};

/// Most tasks first.
#[derive(Debug, Clone, Copy, Default)]
pub struct MostTasks;

impl Discipline for MostTasks {
    fn name(&self) -> &'static str {
        "most_tasks"
    }

    fn pick(&self, idle: &[IdleWorker], n: usize) -> Vec<usize> {
        pick_by(idle, n, |w| w.tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::super::w;
    use super::*;

    #[test]
    fn busiest_first_ties_by_age() {
        let idle = [w(0, 300, 5, 0), w(1, 100, 9, 0), w(2, 200, 5, 0)];
        assert_eq!(MostTasks.pick(&idle, 3), vec![1, 2, 0]);
    }
}
