//! A point-in-time read of a scoreboard: what `zeus status` prints and serialises.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::slot::hdr;
use super::{load_str, Scoreboard, WorkerState};
use crate::clock::now_ms;

/// Pool limits of a service's scheduler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// `start_processes`.
    pub start: u32,
    /// `max_processes`.
    pub max: u32,
    /// `min_spare_processes`.
    pub min_spare: u32,
    /// `max_spare_processes`.
    pub max_spare: u32,
    /// `max_process_tasks` (0 = never recycle).
    pub max_tasks: u64,
}

/// One service as its scoreboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// MPM name.
    pub mpm: String,
    /// Discipline name.
    pub discipline: String,
    /// The scheduler channel's adapter (`auto` resolved), empty for an older scheduler.
    #[serde(default)]
    pub ipc_adapter: String,
    /// Pid of the service's scheduler.
    pub scheduler_pid: u32,
    /// Pool limits.
    pub limits: Limits,
    /// Seconds since the scheduler started.
    pub uptime_secs: f64,
    /// Live workers per state (`STARTED`, `WAITING`, …).
    pub workers_by_state: BTreeMap<WorkerState, u32>,
    /// Live workers.
    pub workers_total: u32,
    /// Tasks done since start.
    pub tasks_done: u64,
    /// Tasks per second over the last seconds (up to 15).
    pub tasks_per_sec: f64,
    /// Workers created since start.
    pub workers_spawned: u64,
    /// Whether the service is shutting down.
    pub stopping: bool,
    /// One row per live worker.
    pub workers: Vec<WorkerStatus>,
}

/// One worker row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Worker number within the service.
    pub id: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id (equals pid under the process MPM).
    pub tid: u32,
    /// Life-cycle state.
    pub state: WorkerState,
    /// Tasks done.
    pub tasks: u64,
    /// Seconds since the worker was created.
    pub age_secs: f64,
    /// Seconds idle (WAITING) so far; 0 when not waiting.
    pub idle_secs: f64,
    /// What it is doing now.
    pub doing: String,
}

impl Scoreboard {
    /// Reads the whole scoreboard.
    pub fn snapshot(&self) -> ServiceStatus {
        let now = now_ms();
        let secs = |from: u64| now.saturating_sub(from) as f64 / 1000.0;
        let words = self.words();
        let mut by_state = BTreeMap::new();
        let mut workers = Vec::new();
        for i in 0..self.slot_count() {
            let s = self.slot(i);
            let state = s.state();
            if state == WorkerState::Empty {
                continue;
            }
            *by_state.entry(state).or_insert(0) += 1;
            workers.push(WorkerStatus {
                id: s.worker_id(),
                pid: s.pid(),
                tid: s.tid(),
                state,
                tasks: s.tasks(),
                age_secs: secs(s.started_ms()),
                idle_secs: if state == WorkerState::Waiting {
                    secs(s.changed_ms())
                } else {
                    0.0
                },
                doing: s.activity(),
            });
        }
        workers.sort_by_key(|w| w.id);
        let (start, max) = split(self.h(hdr::START_MAX));
        let (min_spare, max_spare) = split(self.h(hdr::SPARES));
        let tasks_done = self.total_tasks();
        ServiceStatus {
            service: load_str(&words[hdr::NAME..hdr::NAME + 8]),
            mpm: load_str(&words[hdr::MPM..hdr::MPM + 2]),
            discipline: load_str(&words[hdr::DISCIPLINE..hdr::DISCIPLINE + 2]),
            ipc_adapter: load_str(&words[hdr::IPC..hdr::IPC + 2]),
            scheduler_pid: self.h(hdr::SCHEDULER_PID) as u32,
            limits: Limits {
                start,
                max,
                min_spare,
                max_spare,
                max_tasks: self.h(hdr::MAX_TASKS),
            },
            uptime_secs: secs(self.h(hdr::STARTED_MS)),
            workers_total: workers.len() as u32,
            workers_by_state: by_state,
            tasks_done,
            tasks_per_sec: rate(&self.samples(), now, tasks_done),
            workers_spawned: self.h(hdr::SPAWNED),
            stopping: self.h(hdr::STOPPING) != 0,
            workers,
        }
    }
}

fn split(w: u64) -> (u32, u32) {
    (w as u32, (w >> 32) as u32)
}

/// Tasks per second between the oldest sample of the last 15 s and now.
fn rate(samples: &[(u64, u64)], now: u64, total: u64) -> f64 {
    let window = samples
        .iter()
        .filter(|(t, _)| now.saturating_sub(*t) <= 15_000)
        .min_by_key(|(t, _)| *t);
    match window {
        Some(&(t, tasks)) if now > t + 200 => {
            total.saturating_sub(tasks) as f64 * 1000.0 / (now - t) as f64
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_uses_oldest_recent_sample() {
        let now = 100_000;
        let samples = [(now - 20_000, 0), (now - 10_000, 100), (now - 5_000, 150)];
        assert!((rate(&samples, now, 200) - 10.0).abs() < 1e-9);
        assert_eq!(rate(&[], now, 5), 0.0);
    }
}
