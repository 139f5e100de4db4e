//! The scheduler's view of its scoreboard in MPM units: which units are free, live or idle,
//! and the worker counts the planner needs.

use crate::discipline::IdleWorker;
use crate::scoreboard::{Scoreboard, WorkerState};
use crate::worker::rss_of;

use super::PoolView;

/// Slots grouped in units of `unit` consecutive slots. The scoreboard holds `max_units`
/// units for the pool plus a reserve for recycling overlap: units that are leaving (ending
/// on their own or asked to stop) do not count against `max_units`, so their replacements
/// can start before they end; the reserve bounds how many may overlap.
pub(super) struct Pool<'a> {
    pub board: &'a Scoreboard,
    pub unit: usize,
    /// `max_processes` in units.
    pub max_units: usize,
}

impl Pool<'_> {
    fn units(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.board.slot_count() / self.unit).map(move |u| u * self.unit)
    }

    fn states(&self, first: usize) -> impl Iterator<Item = WorkerState> + '_ {
        (first..first + self.unit).map(move |i| self.board.slot(i).state())
    }

    fn empty(&self, first: usize) -> bool {
        self.states(first).all(|s| s == WorkerState::Empty)
    }

    /// Whether the live unit at `first` is ending: a worker of it said it leaves, or was
    /// asked to stop, or has exited.
    pub fn leaving(&self, first: usize) -> bool {
        (first..first + self.unit).any(|i| {
            let slot = self.board.slot(i);
            slot.leaving() || matches!(slot.state(), WorkerState::Terminated | WorkerState::Exited)
        })
    }

    /// Whether a worker of the unit at `first` announced it leaves (it recycles itself, or
    /// was asked to stop): only after its budget of tasks, so never a crash loop's pace.
    pub fn announced_leaving(&self, first: usize) -> bool {
        (first..first + self.unit).any(|i| self.board.slot(i).leaving())
    }

    /// First slot of a unit that may start now (see [`Pool::free_units`]).
    pub fn free_unit(&self) -> Option<usize> {
        if self.free_units() == 0 {
            return None;
        }
        self.units().find(|&f| self.empty(f))
    }

    /// How many units could still start: free units of the scoreboard, but no more than
    /// `max_units` units that are not leaving.
    pub fn free_units(&self) -> u32 {
        let (mut empty, mut active) = (0, 0);
        for f in self.units() {
            if self.empty(f) {
                empty += 1;
            } else if !self.leaving(f) {
                active += 1;
            }
        }
        empty.min(self.max_units.saturating_sub(active)) as u32
    }

    /// First slots of units with a live worker.
    pub fn live_units(&self) -> Vec<usize> {
        self.units()
            .filter(|&f| self.states(f).any(|s| s != WorkerState::Empty))
            .collect()
    }

    /// Worker counts; the workers of a leaving unit count as ending, whatever their state.
    pub fn view(&self) -> PoolView {
        let mut v = PoolView::default();
        for f in self.units() {
            if self.leaving(f) {
                v.ending += self.states(f).filter(|&s| s != WorkerState::Empty).count() as u32;
                continue;
            }
            for state in self.states(f) {
                match state {
                    WorkerState::Empty => {}
                    WorkerState::Started => v.starting += 1,
                    WorkerState::Waiting => v.idle += 1,
                    WorkerState::Running => v.busy += 1,
                    WorkerState::Terminated | WorkerState::Exited => v.ending += 1,
                }
            }
        }
        v
    }

    /// Units whose workers are all idle, as the discipline sees them.
    pub fn idle_units(&self, with_rss: bool) -> Vec<IdleWorker> {
        self.units()
            .filter(|&f| self.states(f).all(|s| s == WorkerState::Waiting) && !self.leaving(f))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoreboard::Describe;

    /// A scoreboard of `slots` slots in the temp dir, removed on drop.
    fn board(tag: &str, slots: usize) -> Scoreboard {
        let path =
            std::env::temp_dir().join(format!("zeus-pool-test.{}.{tag}", std::process::id()));
        Scoreboard::create(&path, slots, &Describe::default()).unwrap()
    }

    fn start(b: &Scoreboard, slot: usize, state: WorkerState) {
        b.slot(slot).claim(slot as u64 + 1);
        b.slot(slot).set_state(state);
    }

    #[test]
    fn leaving_units_free_capacity_only_within_the_reserve() {
        // max_processes 2, reserve 1.
        let b = board("reserve", 3);
        let pool = Pool {
            board: &b,
            unit: 1,
            max_units: 2,
        };
        start(&b, 0, WorkerState::Waiting);
        start(&b, 1, WorkerState::Running);
        assert_eq!(
            pool.free_units(),
            0,
            "at max_processes: the reserve stays unused"
        );
        assert_eq!(pool.free_unit(), None);
        // Worker 2 recycles itself: its replacement may start in the reserve.
        b.slot(1).set_leaving();
        assert!(pool.announced_leaving(1) && pool.leaving(1));
        assert_eq!(pool.free_units(), 1);
        assert_eq!(pool.free_unit(), Some(2));
        assert_eq!(
            pool.view(),
            PoolView {
                starting: 0,
                idle: 1,
                busy: 0,
                ending: 1
            },
            "a leaving worker is neither busy nor a spare"
        );
        start(&b, 2, WorkerState::Started);
        // The other one leaves too: no slot is left, so it is replaced when it ends.
        b.slot(0).set_leaving();
        assert_eq!(pool.free_units(), 0);
        assert_eq!(pool.free_unit(), None);
        // The first leaver is reaped: one slot again, and one unit below max.
        b.slot(1).release();
        assert_eq!(pool.free_unit(), Some(1));
        assert_eq!(pool.free_units(), 1);
        // A claim clears the flag of the slot's previous worker.
        b.slot(1).claim(9);
        assert!(!pool.leaving(1));
        assert!(pool.idle_units(false).is_empty());
    }

    #[test]
    fn whole_units_count_against_max() {
        // hybrid: 2 units of 2 threads, reserve of one unit.
        let b = board("units", 6);
        let pool = Pool {
            board: &b,
            unit: 2,
            max_units: 2,
        };
        for s in 0..4 {
            start(&b, s, WorkerState::Waiting);
        }
        assert_eq!(pool.free_units(), 0);
        b.slot(3).set_leaving(); // one thread of the second process
        assert!(pool.leaving(2));
        assert_eq!(pool.free_unit(), Some(4));
        assert_eq!(pool.view().ending, 2, "the whole unit is ending");
        assert_eq!(pool.idle_units(false).len(), 1);
    }
}
