//! The worker side of a scheduler's plugins: one bus per process that hosts workers, built in
//! the scheduler before it forks (each forked process uses its own copy), and the
//! `WorkerProcessStart` event delivered once in each such process before its first worker.
//!
//! With no plugin configured there is no bus and no lock: events are only logged (per-task
//! ones at trace level, a disabled-callsite check).

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::event::{Event, EventBus};

/// Worker-scope plugins of one service, shared by the workers of a process.
pub(crate) struct WorkerPlugins {
    bus: Option<Mutex<EventBus>>,
    /// Outcome of `WorkerProcessStart` in this process (the rendered refusal, if any).
    started: OnceLock<Result<(), String>>,
}

impl std::fmt::Debug for WorkerPlugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPlugins")
            .field("bus", &self.bus)
            .field("started", &self.started.get())
            .finish()
    }
}

impl WorkerPlugins {
    /// Wraps a worker-scope bus (a bus without plugins costs nothing).
    pub fn new(bus: EventBus) -> Self {
        Self {
            bus: (!bus.is_empty()).then(|| Mutex::new(bus)),
            started: OnceLock::new(),
        }
    }

    fn lock(bus: &Mutex<EventBus>) -> MutexGuard<'_, EventBus> {
        // A plugin that panicked in one worker thread must not silence the others.
        bus.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Proposes `WorkerProcessStart` the first time it is called in a process; later calls
    /// (more workers of the same process) get the same answer.
    pub fn start_process(&self) -> Result<(), String> {
        self.started
            .get_or_init(|| {
                let e = Event::WorkerProcessStart {
                    pid: std::process::id(),
                };
                match &self.bus {
                    None => {
                        e.log();
                        Ok(())
                    }
                    Some(bus) => Self::lock(bus).propose(e).map_err(|v| v.to_string()),
                }
            })
            .clone()
    }

    /// Delivers a worker event to this process's plugins.
    pub fn emit(&self, e: Event) {
        match &self.bus {
            None => e.log(),
            Some(bus) => Self::lock(bus).emit(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Ctx, PluginError};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn process_start_is_proposed_once_and_a_refusal_sticks() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut bus = EventBus::new(Ctx::worker("svc", None, Vec::new()), Vec::new());
        let c = calls.clone();
        bus.subscribe(move |e, _| {
            if matches!(e, Event::WorkerProcessStart { .. }) {
                c.fetch_add(1, Ordering::Relaxed);
                return Err(PluginError::Refused("not today".into()));
            }
            Ok(())
        });
        let w = WorkerPlugins::new(bus);
        let first = w.start_process().unwrap_err();
        assert!(first.contains("not today"), "{first}");
        assert_eq!(w.start_process().unwrap_err(), first);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn without_plugins_there_is_no_bus() {
        let w = WorkerPlugins::new(EventBus::new(
            Ctx::worker("svc", None, Vec::new()),
            Vec::new(),
        ));
        assert!(w.bus.is_none());
        assert!(w.start_process().is_ok());
        w.emit(Event::WorkerRunning {
            worker_id: 1,
            tasks: 0,
        });
    }
}
