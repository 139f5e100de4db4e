//! The pure half of the scheduler tick: from counts and bounds to a decision. No processes,
//! no clock, so every case is a unit test.
//!
//! Policy: keep at least `start_processes` workers; while fewer than `min_spare_processes`
//! are idle, add workers; while more than `max_spare_processes` are idle, end the surplus
//! (never below `start_processes`); never exceed `max_processes` slots, counting workers
//! that are ending but not yet reaped.

/// Worker counts by what they are doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolView {
    /// Created, not yet waiting.
    pub starting: u32,
    /// Waiting for a task.
    pub idle: u32,
    /// Running a task.
    pub busy: u32,
    /// Asked to stop or exited, not yet reaped (they still hold a slot).
    pub ending: u32,
}

/// The scheduler's pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `start_processes`.
    pub start: u32,
    /// `max_processes`.
    pub max: u32,
    /// `min_spare_processes`.
    pub min_spare: u32,
    /// `max_spare_processes`.
    pub max_spare: u32,
}

/// What to do this tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Workers to create.
    pub spawn: u32,
    /// Idle workers to end (chosen by the discipline).
    pub retire: u32,
}

/// Decides this tick's changes.
pub fn plan(v: &PoolView, b: &Bounds) -> Plan {
    let active = v.starting + v.idle + v.busy;
    let free_slots = b.max.saturating_sub(active + v.ending);
    let spare = v.starting + v.idle;
    let want = b
        .start
        .saturating_sub(active)
        .max(b.min_spare.saturating_sub(spare));
    let spawn = want.min(free_slots);
    let retire = if spawn == 0 && v.idle > b.max_spare {
        (v.idle - b.max_spare).min(active.saturating_sub(b.start))
    } else {
        0
    };
    Plan { spawn, retire }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        start: 8,
        max: 32,
        min_spare: 3,
        max_spare: 5,
    };

    fn view(starting: u32, idle: u32, busy: u32, ending: u32) -> PoolView {
        PoolView {
            starting,
            idle,
            busy,
            ending,
        }
    }

    #[test]
    fn starts_the_initial_pool() {
        assert_eq!(
            plan(&view(0, 0, 0, 0), &B),
            Plan {
                spawn: 8,
                retire: 0
            }
        );
        assert_eq!(plan(&view(8, 0, 0, 0), &B), Plan::default());
    }

    #[test]
    fn adds_spares_when_busy_and_caps_at_max() {
        assert_eq!(plan(&view(0, 1, 7, 0), &B).spawn, 2);
        assert_eq!(plan(&view(0, 0, 31, 0), &B).spawn, 1);
        assert_eq!(plan(&view(0, 0, 30, 2), &B).spawn, 0);
    }

    #[test]
    fn replaces_a_lost_worker() {
        assert_eq!(plan(&view(0, 7, 0, 0), &B).spawn, 1);
    }

    #[test]
    fn retires_surplus_but_not_below_start() {
        assert_eq!(plan(&view(0, 8, 0, 0), &B).retire, 0);
        assert_eq!(plan(&view(0, 10, 2, 0), &B).retire, 4);
        assert_eq!(plan(&view(0, 9, 0, 0), &B).retire, 1);
    }

    #[test]
    fn never_spawns_and_retires_together() {
        for s in 0..4 {
            for i in 0..12 {
                for busy in 0..12 {
                    let p = plan(&view(s, i, busy, 0), &B);
                    assert!(p.spawn == 0 || p.retire == 0);
                    assert!(s + i + busy + p.spawn <= B.max.max(s + i + busy));
                }
            }
        }
    }
}
