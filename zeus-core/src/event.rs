//! Life-cycle events: one enum as the source of truth for plugins, logs and tests.
//!
//! Three scopes, each delivered only in its own processes (as in ZEUS, a scheduler never sees
//! a worker's events and the reverse):
//! - manager events (`ManagerInit`, `ServiceStart`, `ServiceStop`), in the manager;
//! - scheduler events (`SchedulerStart`, `SchedulerLoop`, `SchedulerStop`, `WorkerCreate`,
//!   `WorkerCreated`, `WorkerTerminated`), in a service's scheduler process;
//! - worker events (`WorkerProcessStart`, `WorkerStart`, `WorkerWaiting`, `WorkerRunning`,
//!   `WorkerExit`), inside the workers: in each worker process, or, for the `thread` MPM,
//!   in its worker threads, through a bus of their own that the scheduler never uses.
//!
//! An `EventBus` (in `plugin::bus`, re-exported here) serves one scope and refuses events of
//! another. Listeners (plugins) see each event in order. A vetoable event (`Event::vetoable`)
//! is `propose`d and the first refusal stops it; for the others a listener's error is logged
//! and delivery goes on. Per-task events (`WorkerWaiting`, `WorkerRunning`) carry only
//! integers, so emitting one allocates nothing.

use std::fmt;

use crate::mpm::ExitStatus;
use crate::plugin::Scope;
use crate::scheduler::PoolView;

pub use crate::plugin::{EventBus, Veto};

/// Something that happened to the manager, a scheduler or a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The manager is up: lock taken, listeners bound, about to start services.
    ManagerInit {
        /// Manager pid.
        pid: u32,
        /// Services about to start.
        services: Vec<String>,
    },
    /// A service's scheduler was started (also after a crash).
    ServiceStart {
        /// Service name.
        service: String,
        /// Scheduler pid.
        pid: u32,
    },
    /// A service has stopped (its scheduler and all its workers are gone).
    ServiceStop {
        /// Service name.
        service: String,
        /// How its scheduler ended.
        status: String,
    },
    /// The scheduler is ready (scoreboard created) and about to start its workers.
    SchedulerStart {
        /// Scheduler pid.
        pid: u32,
        /// MPM name.
        mpm: &'static str,
    },
    /// One turn of the scheduler's loop (at least every 100 ms), with the pool's counts.
    SchedulerLoop {
        /// Workers by state.
        pool: PoolView,
        /// Tasks done by the service so far.
        tasks: u64,
    },
    /// The scheduler is about to exit: every worker is gone.
    SchedulerStop {
        /// Tasks done by the service.
        tasks: u64,
    },
    /// A unit of workers is about to be created. Vetoable: a refusal skips this creation and
    /// holds further ones back for a second.
    WorkerCreate {
        /// Id the first worker of the unit will get.
        worker_id: u64,
        /// Its first scoreboard slot.
        slot: usize,
        /// Workers in the unit (`threads_per_process` for `hybrid`, else 1).
        workers: usize,
    },
    /// A unit of workers was created.
    WorkerCreated {
        /// Id of its first worker.
        worker_id: u64,
        /// Its first scoreboard slot.
        slot: usize,
        /// Workers in the unit.
        workers: usize,
        /// The process that runs it (the scheduler's own for `thread`).
        pid: u32,
    },
    /// A unit of workers has ended and was reaped.
    WorkerTerminated {
        /// Id of its first worker.
        worker_id: u64,
        /// Workers in the unit.
        workers: usize,
        /// The process that ran it.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
        /// Tasks its workers did.
        tasks: u64,
    },
    /// A process that hosts workers is about to start them: a `process` worker right after
    /// the fork, a `hybrid` child before its threads, the `thread` scheduler before its first
    /// worker thread. Vetoable: a refusal ends the process before it serves anything (or, for
    /// `thread`, fails every worker start).
    WorkerProcessStart {
        /// The process.
        pid: u32,
    },
    /// A worker begins (in its own thread or process).
    WorkerStart {
        /// Worker id.
        worker_id: u64,
        /// Scoreboard slot.
        slot: usize,
        /// Its process.
        pid: u32,
        /// Its thread.
        tid: u32,
    },
    /// A worker waits for a task (after it starts and after each task).
    WorkerWaiting {
        /// Worker id.
        worker_id: u64,
        /// Tasks done so far.
        tasks: u64,
    },
    /// A worker begins a task.
    WorkerRunning {
        /// Worker id.
        worker_id: u64,
        /// Tasks done before this one.
        tasks: u64,
    },
    /// A worker ends.
    WorkerExit {
        /// Worker id.
        worker_id: u64,
        /// Tasks done.
        tasks: u64,
        /// Its exit code (0: ended normally).
        code: i32,
        /// Why it ended.
        reason: &'static str,
    },
}

impl Event {
    /// The event's name, as in ZEUS (`ManagerInit`, `WorkerCreate`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ManagerInit { .. } => "ManagerInit",
            Self::ServiceStart { .. } => "ServiceStart",
            Self::ServiceStop { .. } => "ServiceStop",
            Self::SchedulerStart { .. } => "SchedulerStart",
            Self::SchedulerLoop { .. } => "SchedulerLoop",
            Self::SchedulerStop { .. } => "SchedulerStop",
            Self::WorkerCreate { .. } => "WorkerCreate",
            Self::WorkerCreated { .. } => "WorkerCreated",
            Self::WorkerTerminated { .. } => "WorkerTerminated",
            Self::WorkerProcessStart { .. } => "WorkerProcessStart",
            Self::WorkerStart { .. } => "WorkerStart",
            Self::WorkerWaiting { .. } => "WorkerWaiting",
            Self::WorkerRunning { .. } => "WorkerRunning",
            Self::WorkerExit { .. } => "WorkerExit",
        }
    }

    /// Where the event is delivered.
    pub fn scope(&self) -> Scope {
        match self {
            Self::ManagerInit { .. } | Self::ServiceStart { .. } | Self::ServiceStop { .. } => {
                Scope::Manager
            }
            Self::SchedulerStart { .. }
            | Self::SchedulerLoop { .. }
            | Self::SchedulerStop { .. }
            | Self::WorkerCreate { .. }
            | Self::WorkerCreated { .. }
            | Self::WorkerTerminated { .. } => Scope::Scheduler,
            _ => Scope::Worker,
        }
    }

    /// Whether a listener may refuse it (`EventBus::propose`).
    pub fn vetoable(&self) -> bool {
        matches!(
            self,
            Self::WorkerCreate { .. } | Self::WorkerProcessStart { .. }
        )
    }

    /// Logs the event: life-cycle events at info (manager) or debug, per-tick and per-task
    /// events at trace.
    pub(crate) fn log(&self) {
        match self {
            Self::ManagerInit { .. } | Self::ServiceStart { .. } | Self::ServiceStop { .. } => {
                tracing::info!(event = self.name(), "{self}")
            }
            Self::SchedulerLoop { .. }
            | Self::WorkerWaiting { .. }
            | Self::WorkerRunning { .. } => {
                tracing::trace!(event = self.name(), "{self}")
            }
            _ => tracing::debug!(event = self.name(), "{self}"),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Self::ManagerInit { pid, services } => {
                write!(
                    f,
                    "{name}: manager pid {pid}, starting {}",
                    services.join(", ")
                )
            }
            Self::ServiceStart { service, pid } => {
                write!(f, "{name}: {service} (scheduler pid {pid})")
            }
            Self::ServiceStop { service, status } => write!(f, "{name}: {service} ({status})"),
            Self::SchedulerStart { pid, mpm } => write!(f, "{name}: pid {pid}, mpm {mpm}"),
            Self::SchedulerLoop { pool, tasks } => write!(
                f,
                "{name}: {} starting, {} idle, {} busy, {} ending; {tasks} tasks",
                pool.starting, pool.idle, pool.busy, pool.ending
            ),
            Self::SchedulerStop { tasks } => write!(f, "{name}: {tasks} tasks done"),
            Self::WorkerCreate {
                worker_id,
                slot,
                workers,
            } => write!(
                f,
                "{name}: worker {worker_id} (slot {slot}, {workers} in unit)"
            ),
            Self::WorkerCreated {
                worker_id,
                workers,
                pid,
                ..
            } => write!(
                f,
                "{name}: worker {worker_id} ({workers} in unit), pid {pid}"
            ),
            Self::WorkerTerminated {
                worker_id,
                pid,
                status,
                tasks,
                ..
            } => write!(
                f,
                "{name}: worker {worker_id} (pid {pid}): {status}, {tasks} tasks"
            ),
            Self::WorkerProcessStart { pid } => write!(f, "{name}: pid {pid}"),
            Self::WorkerStart {
                worker_id,
                pid,
                tid,
                ..
            } => write!(f, "{name}: worker {worker_id} (pid {pid}, tid {tid})"),
            Self::WorkerWaiting { worker_id, tasks } | Self::WorkerRunning { worker_id, tasks } => {
                write!(f, "{name}: worker {worker_id}, {tasks} tasks")
            }
            Self::WorkerExit {
                worker_id,
                tasks,
                code,
                reason,
            } => write!(
                f,
                "{name}: worker {worker_id} after {tasks} tasks ({reason}, code {code})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_know_their_scope() {
        let worker = Event::WorkerRunning {
            worker_id: 1,
            tasks: 0,
        };
        assert_eq!(worker.scope(), Scope::Worker);
        assert!(!worker.vetoable());
        assert_eq!(Event::SchedulerStop { tasks: 0 }.scope(), Scope::Scheduler);
        assert!(Event::WorkerProcessStart { pid: 1 }.vetoable());
        let init = Event::ManagerInit {
            pid: 1,
            services: vec!["a".into()],
        };
        assert_eq!(init.scope(), Scope::Manager);
        assert_eq!(init.to_string(), "ManagerInit: manager pid 1, starting a");
    }
}
