//! Pool maintenance, the acting half of the scheduler tick: start units (ramped, or on
//! demand), retire surplus idle units through the discipline, stop units with a reason, and
//! back off after crashes at start. What to do is decided by the pure `plan`.

use std::time::{Duration, Instant};

use super::{plan, Bounds, Scheduler, BACKOFF_BASE, BACKOFF_MAX, VETO_HOLD};
use crate::clock::now_ms;
use crate::event::Event;
use crate::scoreboard::WorkerState;

impl Scheduler {
    /// Asks the unit at `first` to end after its tasks in hand, and remembers that we did.
    /// The reason goes through the channel first; the MPM's stop (a signal) always follows,
    /// so a stop never depends on the channel.
    pub(super) fn stop_unit(&mut self, first: usize, why: &str) {
        self.stopped.insert(first);
        for i in first..first + self.caps.unit {
            self.board.slot(i).set_leaving();
        }
        self.command_unit(first, |worker_id| crate::ipc::ToWorker::Stop {
            worker_id,
            why,
        });
        self.mpm.stop(first);
    }

    /// Marks the idle slots of the unit starting at `first` with `state` (TERMINATED); busy
    /// ones stay RUNNING until their task ends, so `zeus status` shows what is still served.
    pub(super) fn mark(&self, first: usize, state: WorkerState) {
        for i in first..first + self.caps.unit {
            let slot = self.board.slot(i);
            if matches!(slot.state(), WorkerState::Started | WorkerState::Waiting) {
                slot.set_state(state);
            }
        }
    }

    /// 100 ms, 200 ms, 400 ms … up to 10 s, growing with consecutive failures.
    pub(super) fn backoff(&self) -> Duration {
        BACKOFF_BASE
            .saturating_mul(1 << self.crash_streak.saturating_sub(1).min(10))
            .min(BACKOFF_MAX)
    }

    pub(super) fn sample(&mut self, now: Instant) {
        if now >= self.next_sample {
            self.board.record_sample(now_ms());
            self.next_sample = now + Duration::from_secs(1);
        }
    }

    /// Whether a crash backoff forbids spawning now.
    pub(super) fn held_back(&mut self, now: Instant) -> bool {
        match self.spawn_after {
            Some(at) if now < at => true,
            Some(_) => {
                self.spawn_after = None;
                false
            }
            None => false,
        }
    }

    pub(super) fn tick_prefork(&mut self) {
        let now = Instant::now();
        self.sample(now);
        let view = self.pool().view();
        let bounds = Bounds {
            min_spare: self.cfg.min_spare_processes,
            max_spare: self.cfg.max_spare_processes,
            unit: self.caps.unit as u32,
        };
        let p = plan(&view, &bounds, self.pool().free_units());
        self.warn_at_max(p.at_max && view.idle + view.starting == 0);
        // Like httpd, a shortage starts as many units as the ramp allows this second (not just
        // the deficit), so a burst is met in a few seconds; surplus is retired later.
        let want = if p.spawn > 0 && !self.held_back(now) {
            self.pool().free_units()
        } else {
            0
        };
        let mut n = self.ramp.allow(now_ms(), want);
        if self.crash_streak > 0 {
            n = n.min(1);
        }
        for _ in 0..n {
            self.spawn_unit();
        }
        // End one surplus unit per second, like httpd and php-fpm, so a short lull does not
        // throw away the pool a burst just built.
        if p.retire > 0 && now >= self.next_retire {
            let idle = self.pool().idle_units(self.discipline.wants_rss());
            if let Some(first) = self.discipline.pick(&idle, 1).first().copied() {
                tracing::info!(
                    "ending idle worker {} (more than {} spare; discipline {})",
                    self.board.slot(first).worker_id(),
                    bounds.max_spare,
                    self.discipline.name()
                );
                self.mark(first, WorkerState::Terminated);
                self.stop_unit(first, "more idle workers than max_spare_processes");
                self.next_retire = now + Duration::from_secs(1);
            }
        }
    }

    pub(super) fn tick_on_demand(&mut self, connection_waiting: bool) {
        let now = Instant::now();
        self.sample(now);
        let view = self.pool().view();
        if connection_waiting && view.idle + view.starting == 0 {
            let free = self.pool().free_units();
            self.warn_at_max(free == 0);
            if free > 0 && !self.held_back(now) && self.ramp.allow(now_ms(), 1) == 1 {
                self.spawn_unit();
            }
        }
        let limit = (self.cfg.process_idle_timeout * 1000.0) as u64;
        let now_ms = now_ms();
        for w in self.pool().idle_units(false) {
            if now_ms.saturating_sub(w.idle_since_ms) >= limit {
                tracing::info!(
                    "ending worker {}: idle for {}s",
                    self.board.slot(w.slot).worker_id(),
                    self.cfg.process_idle_timeout
                );
                self.mark(w.slot, WorkerState::Terminated);
                self.stop_unit(w.slot, "process_idle_timeout reached");
            }
        }
    }

    /// Warns once per burst that every worker is busy and the pool cannot grow.
    pub(super) fn warn_at_max(&mut self, at_max: bool) {
        if at_max && !self.warned_max {
            tracing::warn!(
                "all {} workers are busy and max_processes is reached: new connections wait in the listen backlog (consider raising max_processes)",
                self.cfg.max_processes
            );
            self.warned_max = true;
        } else if !at_max {
            self.warned_max = false;
        }
    }

    /// Starts a unit in a free slot; true if it started.
    pub(super) fn spawn_unit(&mut self) -> bool {
        let Some(first) = self.pool().free_unit() else {
            return false;
        };
        let ids = self.next_id;
        let unit = self.caps.unit;
        let proposal = Event::WorkerCreate {
            worker_id: ids,
            slot: first,
            workers: unit,
        };
        if let Err(veto) = self.events.propose(proposal) {
            tracing::info!("{veto}; no worker is created for {VETO_HOLD:?}");
            self.spawn_after = Some(Instant::now() + VETO_HOLD);
            return false;
        }
        // Counted before the fork: a worker may show itself WAITING before the fork returns
        // here, and `zeus status` should never see it uncounted.
        for i in first..first + self.caps.unit {
            self.board.slot(i).claim(self.next_id);
            self.board.count_spawn();
            self.next_id += 1;
        }
        match self.mpm.spawn(first, &self.body) {
            Ok(pid) => {
                for i in first..first + self.caps.unit {
                    // Threads write their own ids (the thread id is only known inside).
                    if !self.caps.threads {
                        self.board.slot(i).set_ids(pid, pid);
                    }
                }
                self.events.emit(Event::WorkerCreated {
                    worker_id: ids,
                    slot: first,
                    workers: unit,
                    pid,
                });
                if self.caps.unit == 1 {
                    tracing::info!("worker {ids} started (pid {pid})");
                } else {
                    tracing::info!(
                        "worker process {pid} started (workers {ids}..{})",
                        self.next_id - 1
                    );
                }
                true
            }
            Err(e) => {
                for i in first..first + self.caps.unit {
                    self.board.slot(i).release();
                    self.board.uncount_spawn();
                }
                self.crash_streak += 1;
                self.spawn_after = Some(Instant::now() + self.backoff());
                tracing::error!("cannot start a worker: {e}");
                false
            }
        }
    }
}
