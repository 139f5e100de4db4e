//! Workers that end: account for their tasks, log how and why they ended, replace the ones
//! that ended on their own, back off from crashes at start; and the fast stop when the
//! manager is gone.

use std::time::{Duration, Instant};

use super::{Scheduler, FAST_STOP_WAIT};
use crate::event::Event;
use crate::mpm::WorkerExit;
use crate::scoreboard::WorkerState;

impl Scheduler {
    pub(super) fn on_exit(&mut self, e: WorkerExit, running: bool) {
        let (mut tasks, mut at_start) = (0, false);
        let asked = self.stopped.remove(&e.slots.start);
        let overlapped = self.overlapped.remove(&e.slots.start);
        let first_id = self.board.slot(e.slots.start).worker_id();
        for i in e.slots.clone() {
            let slot = self.board.slot(i);
            // Died before it ever became ready: a crash at start, which must not become a fork storm.
            at_start |= slot.state() == WorkerState::Started;
            tasks += slot.release();
        }
        // A unit that ended on its own (recycled, crashed) is replaced one for one at once,
        // like httpd, unless its replacement started when it said it was leaving; one we
        // ended on purpose is not, and growth beyond that is ramped.
        let replace =
            running && !asked && !overlapped && !at_start && self.cfg.enable_process_cache;
        self.board.retire_tasks(tasks);
        self.events.emit(Event::WorkerTerminated {
            worker_id: first_id,
            workers: e.slots.len(),
            pid: e.pid,
            status: e.status,
            tasks,
        });
        let who = if e.slots.len() == 1 {
            format!("worker {first_id} (pid {})", e.pid)
        } else {
            format!(
                "worker process {} (workers {first_id}..{})",
                e.pid,
                first_id + e.slots.len() as u64 - 1
            )
        };
        // What the unit's workers said, in slot order; ids of a unit are consecutive.
        let said: Vec<String> = (0..e.slots.len() as u64)
            .filter_map(|k| self.exit_reasons.remove(&(first_id + k)))
            .collect();
        let said = said.first().map(|r| format!(": {r}")).unwrap_or_default();
        if e.status.is_clean() {
            tracing::info!("{who} exited after {tasks} tasks{said}");
            self.crash_streak = 0;
        } else {
            let then = if running { "; replacing it" } else { "" };
            tracing::warn!("{who} died: {} after {tasks} tasks{said}{then}", e.status);
        }
        if replace {
            self.spawn_unit();
        }
        if e.status.is_clean() {
            return;
        }
        if at_start {
            self.crash_streak += 1;
            let delay = self.backoff();
            self.spawn_after = Some(Instant::now() + delay);
            tracing::warn!(
                "workers crash at start ({} in a row): next one in {delay:?}",
                self.crash_streak
            );
        } else {
            self.crash_streak = 0;
        }
    }

    /// Starts the replacement of each unit that said it is leaving (it recycles itself),
    /// while it finishes its work in hand, like httpd's graceful restart of a child: the
    /// pool does not lose capacity for the time the old unit takes to end and be reaped.
    /// Bounded by the scoreboard's reserve (`recycle_overlap`); never while the crash
    /// back-off holds (then `on_exit` replaces the unit as before); prefork pools only.
    pub(super) fn replace_leaving(&mut self) {
        if !self.cfg.enable_process_cache || self.crash_streak > 0 {
            return;
        }
        let leaving: Vec<usize> = self
            .pool()
            .live_units()
            .into_iter()
            .filter(|f| !self.stopped.contains(f) && !self.overlapped.contains(f))
            .filter(|&f| self.pool().announced_leaving(f))
            .collect();
        for first in leaving {
            if self.held_back(Instant::now()) || self.pool().free_unit().is_none() {
                return; // replaced when it ends
            }
            if !self.spawn_unit() {
                return;
            }
            self.overlapped.insert(first);
            tracing::info!(
                "worker {} is recycling: its replacement started while it finishes",
                self.board.slot(first).worker_id()
            );
        }
    }

    pub(super) fn fast_stop(&mut self) {
        self.board.set_stopping();
        for first in self.pool().live_units() {
            self.mpm.kill(first);
        }
        let until = Instant::now() + FAST_STOP_WAIT;
        while self.caps.can_kill && self.mpm.live() > 0 && Instant::now() < until {
            for exit in self.mpm.reap() {
                for i in exit.slots {
                    self.board.retire_tasks(self.board.slot(i).release());
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
