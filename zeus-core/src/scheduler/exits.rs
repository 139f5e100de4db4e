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
        let first_id = self.board.slot(e.slots.start).worker_id();
        for i in e.slots.clone() {
            let slot = self.board.slot(i);
            // Died before it ever became ready: a crash at start, which must not become a fork storm.
            at_start |= slot.state() == WorkerState::Started;
            tasks += slot.release();
        }
        // A unit that ended on its own (recycled, crashed) is replaced one for one at once,
        // like httpd; one we ended on purpose is not, and growth beyond that is ramped.
        let replace = running && !asked && !at_start && self.cfg.enable_process_cache;
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
