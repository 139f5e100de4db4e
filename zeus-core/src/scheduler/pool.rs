//! The scheduler's view of its scoreboard in MPM units: which units are free, live or idle,
//! and the worker counts the planner needs.

use crate::discipline::IdleWorker;
use crate::scoreboard::{Scoreboard, WorkerState};
use crate::worker::rss_of;

use super::PoolView;

/// Slots grouped in units of `unit` consecutive slots.
pub(super) struct Pool<'a> {
    pub board: &'a Scoreboard,
    pub unit: usize,
}

impl Pool<'_> {
    fn units(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.board.slot_count() / self.unit).map(move |u| u * self.unit)
    }

    fn states(&self, first: usize) -> impl Iterator<Item = WorkerState> + '_ {
        (first..first + self.unit).map(move |i| self.board.slot(i).state())
    }

    /// First slot of a unit whose slots are all free.
    pub fn free_unit(&self) -> Option<usize> {
        self.units()
            .find(|&f| self.states(f).all(|s| s == WorkerState::Empty))
    }

    /// How many units could still start.
    pub fn free_units(&self) -> u32 {
        self.units()
            .filter(|&f| self.states(f).all(|s| s == WorkerState::Empty))
            .count() as u32
    }

    /// First slots of units with a live worker.
    pub fn live_units(&self) -> Vec<usize> {
        self.units()
            .filter(|&f| self.states(f).any(|s| s != WorkerState::Empty))
            .collect()
    }

    /// Worker counts.
    pub fn view(&self) -> PoolView {
        let mut v = PoolView::default();
        for i in 0..self.board.slot_count() {
            match self.board.slot(i).state() {
                WorkerState::Empty => {}
                WorkerState::Started => v.starting += 1,
                WorkerState::Waiting => v.idle += 1,
                WorkerState::Running => v.busy += 1,
                WorkerState::Terminated | WorkerState::Exited => v.ending += 1,
            }
        }
        v
    }

    /// Units whose workers are all idle, as the discipline sees them.
    pub fn idle_units(&self, with_rss: bool) -> Vec<IdleWorker> {
        self.units()
            .filter(|&f| self.states(f).all(|s| s == WorkerState::Waiting))
            .map(|f| {
                let slots = (f..f + self.unit).map(|i| self.board.slot(i));
                let (mut since, mut tasks) = (0, 0);
                for s in slots {
                    since = since.max(s.changed_ms());
                    tasks += s.tasks();
                }
                let pid = self.board.slot(f).pid();
                let rss_bytes = if with_rss {
                    rss_of(&pid.to_string())
                } else {
                    0
                };
                IdleWorker {
                    slot: f,
                    idle_since_ms: since,
                    tasks,
                    rss_bytes,
                }
            })
            .collect()
    }
}
