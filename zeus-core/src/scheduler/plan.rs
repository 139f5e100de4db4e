//! The pure half of the scheduler tick: from counts and bounds to a decision. No processes,
//! no clock of its own, so every case is a unit test.
//!
//! Policy (httpd's `perform_idle_server_maintenance`, php-fpm's `dynamic`): while fewer than
//! `min_spare_processes` workers are idle, start more, never above `max_processes`; while more
//! than `max_spare_processes` are idle, end the surplus. Counts are in workers; MPMs start and
//! end whole units (a `hybrid` process of N threads), so spawns round up and retirements
//! round down, which also keeps the pool from oscillating.

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

/// The scheduler's spare bounds and the MPM's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// `min_spare_processes`.
    pub min_spare: u32,
    /// `max_spare_processes`.
    pub max_spare: u32,
    /// Workers per unit.
    pub unit: u32,
}

/// What to do this tick, in units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Units to start.
    pub spawn: u32,
    /// Idle units to end (chosen by the discipline).
    pub retire: u32,
    /// More workers are wanted but every slot is taken.
    pub at_max: bool,
}

/// Decides this tick's changes; `free_units` is how many units could still start.
pub fn plan(v: &PoolView, b: &Bounds, free_units: u32) -> Plan {
    let unit = b.unit.max(1);
    let spare = v.starting + v.idle;
    if spare < b.min_spare {
        let want = (b.min_spare - spare).div_ceil(unit);
        let spawn = want.min(free_units);
        return Plan {
            spawn,
            retire: 0,
            at_max: spawn < want,
        };
    }
    let retire = v.idle.saturating_sub(b.max_spare) / unit;
    Plan {
        spawn: 0,
        retire,
        at_max: false,
    }
}

/// Spawn rate limiting, like httpd's: 1 unit in a one-second window, doubling each window
/// whose whole budget was needed, up to a cap; back to 1 once a window needs less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ramp {
    rate: u32,
    max_rate: u32,
    window_start_ms: u64,
    used: u32,
}

impl Ramp {
    /// A ramp capped at `max_rate` units per second.
    pub fn new(max_rate: u32) -> Self {
        Self {
            rate: 1,
            max_rate: max_rate.max(1),
            window_start_ms: 0,
            used: 0,
        }
    }

    /// How many of `want` units may start now.
    pub fn allow(&mut self, now_ms: u64, want: u32) -> u32 {
        if now_ms.saturating_sub(self.window_start_ms) >= 1000 {
            self.rate = if self.used >= self.rate {
                (self.rate * 2).min(self.max_rate)
            } else {
                1
            };
            self.window_start_ms = now_ms;
            self.used = 0;
        }
        let n = want.min(self.rate - self.used);
        self.used += n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        min_spare: 3,
        max_spare: 5,
        unit: 1,
    };

    fn view(starting: u32, idle: u32, busy: u32) -> PoolView {
        PoolView {
            starting,
            idle,
            busy,
            ending: 0,
        }
    }

    #[test]
    fn spawns_up_to_min_spare_within_free_slots() {
        assert_eq!(
            plan(&view(0, 1, 7), &B, 24),
            Plan {
                spawn: 2,
                retire: 0,
                at_max: false
            }
        );
        assert_eq!(
            plan(&view(0, 0, 31), &B, 1),
            Plan {
                spawn: 1,
                retire: 0,
                at_max: true
            }
        );
        assert_eq!(
            plan(&view(0, 0, 32), &B, 0),
            Plan {
                spawn: 0,
                retire: 0,
                at_max: true
            }
        );
        assert_eq!(plan(&view(2, 1, 0), &B, 10), Plan::default());
    }

    #[test]
    fn retires_surplus_idle_workers() {
        assert_eq!(plan(&view(0, 8, 0), &B, 24).retire, 3);
        assert_eq!(plan(&view(0, 5, 9), &B, 18).retire, 0);
    }

    #[test]
    fn whole_units_round_up_to_spawn_and_down_to_retire() {
        let b = Bounds {
            min_spare: 3,
            max_spare: 5,
            unit: 4,
        };
        assert_eq!(plan(&view(0, 2, 10), &b, 4).spawn, 1);
        assert_eq!(plan(&view(0, 8, 0), &b, 4).retire, 0);
        assert_eq!(plan(&view(0, 9, 0), &b, 4).retire, 1);
        assert_eq!(plan(&view(0, 13, 0), &b, 4).retire, 2);
    }

    #[test]
    fn never_oscillates() {
        for unit in 1..6 {
            for min in 0..6 {
                for max in min..10 {
                    let b = Bounds {
                        min_spare: min,
                        max_spare: max,
                        unit,
                    };
                    for idle in 0..30 {
                        let p = plan(&view(0, idle, 0), &b, 100);
                        let after = idle + p.spawn * unit - p.retire * unit;
                        let again = plan(&view(0, after, 0), &b, 100);
                        assert!(
                            p.spawn == 0 || again.retire == 0,
                            "{b:?} idle {idle}: {p:?} then {again:?}"
                        );
                        assert!(
                            p.retire == 0 || again.spawn == 0,
                            "{b:?} idle {idle}: {p:?} then {again:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ramp_doubles_while_needed_and_resets() {
        let mut r = Ramp::new(32);
        let mut per_second = Vec::new();
        for s in 0..7 {
            per_second.push(r.allow(1000 * (s + 1), 100));
        }
        assert_eq!(per_second, [1, 2, 4, 8, 16, 32, 32]);
        assert_eq!(r.allow(8000, 0), 0);
        assert_eq!(
            r.allow(9000, 5),
            1,
            "a window that needed less resets the rate"
        );
        assert_eq!(r.allow(9500, 5), 0, "the window's budget is spent");
    }
}
