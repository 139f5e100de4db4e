//! `process_title` (no options): what `ps` and `top` show for each zeus process.
//!
//! - manager: `zeus: manager`;
//! - scheduler: `zeus: echo scheduler [12 workers]`; with the `thread` MPM, whose workers have
//!   no process of their own, the scheduler's title carries their counts:
//!   `zeus: echo scheduler [12 workers, 3 running] 570 tasks`;
//! - `process` worker: `zeus: echo worker 3 [RUNNING] 57 tasks` (STARTING, WAITING, RUNNING,
//!   EXITING);
//! - `hybrid` child: the counts of its threads,
//!   `zeus: echo workers 5-8 [1 running, 3 waiting] 57 tasks`.
//!
//! The whole title goes to the argument area (`/proc/PID/cmdline`: `ps -f`, `ps aux`, `top`
//! with `c`); a 15-byte form goes to the process name (`comm`: plain `ps` and `top`), set once
//! per process because it costs a system call. A state change formats into a buffer the
//! plugin keeps (no allocation once it has grown) and copies it into the argument area
//! (`sys::proctitle::set`): no system call per task. A system whose kernel reports no argument
//! area refuses the start; a failure later is logged once and the plugin goes quiet.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Ctx, Plugin, PluginError, PluginOptions};
use crate::config::ConfigErrors;
use crate::event::Event;
use crate::scheduler::PoolView;
use crate::sys::proctitle;

/// The `process_title` plugin.
#[derive(Debug, Default)]
pub struct ProcessTitle {
    buf: String,
    quiet: bool,
    unit: Unit,
}

/// A worker's state, as its title shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Waiting,
    Running,
    Exiting,
}

impl State {
    fn label(self) -> &'static str {
        match self {
            Self::Starting => "STARTING",
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::Exiting => "EXITING",
        }
    }
}

/// How this process's workers are titled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One worker per process.
    Worker,
    /// A process of worker threads (`hybrid`).
    Unit,
    /// Workers are threads of the scheduler, whose title has the counts (`thread`).
    Scheduler,
}

fn mode(ctx: &Ctx) -> Mode {
    match ctx.capabilities() {
        Some(c) if c.forks && !c.threads => Mode::Worker,
        Some(c) if c.forks => Mode::Unit,
        _ => Mode::Scheduler,
    }
}

fn tasks_word(n: u64) -> &'static str {
    if n == 1 {
        "task"
    } else {
        "tasks"
    }
}

/// The workers of a `hybrid` child: state and tasks by worker id, with running counts.
#[derive(Debug, Default)]
struct Unit {
    workers: BTreeMap<u64, (State, u64)>,
    counts: [u32; 4],
}

impl Unit {
    fn set(&mut self, id: u64, state: State, tasks: u64) {
        if let Some((old, _)) = self.workers.insert(id, (state, tasks)) {
            self.counts[old as usize] -= 1;
        }
        self.counts[state as usize] += 1;
    }

    fn title(&self, buf: &mut String, service: &str) {
        let first = self.workers.keys().next().copied().unwrap_or(0);
        let last = self.workers.keys().next_back().copied().unwrap_or(0);
        let tasks: u64 = self.workers.values().map(|(_, t)| t).sum();
        let n = |s: State| self.counts[s as usize];
        let _ = write!(
            buf,
            "zeus: {service} workers {first}-{last} [{} running, {} waiting",
            n(State::Running),
            n(State::Waiting)
        );
        for s in [State::Starting, State::Exiting] {
            if n(s) > 0 {
                let _ = write!(buf, ", {} {}", n(s), s.label().to_ascii_lowercase());
            }
        }
        let _ = write!(buf, "] {tasks} {}", tasks_word(tasks));
    }
}

fn scheduler_title(buf: &mut String, service: &str, pool: &PoolView, tasks: u64, threads: bool) {
    let workers = pool.starting + pool.idle + pool.busy + pool.ending;
    let _ = write!(buf, "zeus: {service} scheduler [{workers} workers");
    if threads {
        let _ = write!(
            buf,
            ", {} running] {tasks} {}",
            pool.busy,
            tasks_word(tasks)
        );
    } else {
        buf.push(']');
    }
}

fn worker_title(buf: &mut String, service: &str, id: u64, state: State, tasks: u64) {
    // The per-task path: plain pushes, no formatting machinery.
    buf.push_str("zeus: ");
    buf.push_str(service);
    buf.push_str(" worker ");
    buf.push_str(itoa::Buffer::new().format(id));
    buf.push_str(" [");
    buf.push_str(state.label());
    buf.push_str("] ");
    buf.push_str(itoa::Buffer::new().format(tasks));
    buf.push(' ');
    buf.push_str(tasks_word(tasks));
}

impl ProcessTitle {
    /// Checks that titles can be set here; the plugin takes no options.
    pub fn from_options(o: &PluginOptions) -> Result<Self, ConfigErrors> {
        o.only(&[])?;
        if let Err(e) = proctitle::probe() {
            return Err(o
                .error("", format!("process titles cannot be set here: {e}"))
                .into());
        }
        Ok(Self::default())
    }

    /// Formats the title for `e` into `buf`; returns the process name to set, once per
    /// process, or `None` when `e` changes nothing.
    fn format(&mut self, e: &Event, ctx: &Ctx) -> Option<Option<String>> {
        let svc = ctx.service().unwrap_or("");
        let buf = &mut self.buf;
        buf.clear();
        let mode = mode(ctx);
        let state = match e {
            Event::ManagerInit { .. } => {
                buf.push_str("zeus: manager");
                return Some(Some("zeus: manager".into()));
            }
            Event::SchedulerStart { .. } => {
                scheduler_title(buf, svc, &PoolView::default(), 0, mode == Mode::Scheduler);
                return Some(Some(format!("{svc} scheduler")));
            }
            Event::SchedulerLoop { pool, tasks } => {
                scheduler_title(buf, svc, pool, *tasks, mode == Mode::Scheduler);
                return Some(None);
            }
            Event::WorkerProcessStart { .. } if mode == Mode::Unit => {
                let _ = write!(buf, "zeus: {svc} workers [STARTING]");
                return Some(Some(format!("{svc} workers")));
            }
            _ if mode == Mode::Scheduler => return None,
            Event::WorkerStart { worker_id, .. } => (*worker_id, State::Starting, 0),
            Event::WorkerWaiting { worker_id, tasks } => (*worker_id, State::Waiting, *tasks),
            Event::WorkerRunning { worker_id, tasks } => (*worker_id, State::Running, *tasks),
            Event::WorkerExit {
                worker_id, tasks, ..
            } => (*worker_id, State::Exiting, *tasks),
            _ => return None,
        };
        let (id, state, tasks) = state;
        if mode == Mode::Unit {
            self.unit.set(id, state, tasks);
            self.unit.title(buf, svc);
            return Some(None);
        }
        worker_title(buf, svc, id, state, tasks);
        Some((state == State::Starting).then(|| format!("{svc} worker {id}")))
    }
}

impl Plugin for ProcessTitle {
    fn name(&self) -> &str {
        "process_title"
    }

    /// Never refuses: a title is cosmetic.
    fn on_event(&mut self, e: &Event, ctx: &Ctx) -> Result<(), PluginError> {
        if self.quiet {
            return Ok(());
        }
        let Some(comm) = self.format(e, ctx) else {
            return Ok(());
        };
        let done = proctitle::set(&self.buf).and_then(|()| match comm {
            Some(name) => proctitle::set_thread_name(&name),
            None => Ok(()),
        });
        if let Err(err) = done {
            tracing::warn!("process_title: {err}; titles are left as they are");
            self.quiet = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mpm::Capabilities;

    fn caps(forks: bool, threads: bool) -> Capabilities {
        Capabilities {
            forks,
            threads,
            unit: 1,
            can_kill: forks,
            own_memory: forks,
        }
    }

    fn title(p: &mut ProcessTitle, e: Event, ctx: &Ctx) -> (Option<String>, String) {
        let comm = p.format(&e, ctx).expect("the event changes the title");
        (comm, p.buf.clone())
    }

    #[test]
    fn manager_and_scheduler_titles() {
        let mut p = ProcessTitle::default();
        let (comm, t) = title(
            &mut p,
            Event::ManagerInit {
                pid: 1,
                services: vec![],
            },
            &Ctx::manager(),
        );
        assert_eq!(
            (comm.as_deref(), t.as_str()),
            (Some("zeus: manager"), "zeus: manager")
        );
        let pool = PoolView {
            starting: 1,
            idle: 8,
            busy: 3,
            ending: 0,
        };
        let forks = Ctx::scheduler("echo", Some(caps(true, false)));
        let (_, t) = title(&mut p, Event::SchedulerLoop { pool, tasks: 570 }, &forks);
        assert_eq!(t, "zeus: echo scheduler [12 workers]");
        let threads = Ctx::scheduler("echo", Some(caps(false, true)));
        let (_, t) = title(&mut p, Event::SchedulerLoop { pool, tasks: 570 }, &threads);
        assert_eq!(t, "zeus: echo scheduler [12 workers, 3 running] 570 tasks");
    }

    #[test]
    fn a_process_worker_shows_its_state_and_tasks() {
        let mut p = ProcessTitle::default();
        let ctx = Ctx::worker("echo", Some(caps(true, false)), Vec::new());
        let start = Event::WorkerStart {
            worker_id: 3,
            slot: 2,
            pid: 9,
            tid: 9,
        };
        let (comm, t) = title(&mut p, start, &ctx);
        assert_eq!(comm.as_deref(), Some("echo worker 3"));
        assert_eq!(t, "zeus: echo worker 3 [STARTING] 0 tasks");
        let (comm, t) = title(
            &mut p,
            Event::WorkerRunning {
                worker_id: 3,
                tasks: 57,
            },
            &ctx,
        );
        assert_eq!(
            (comm, t.as_str()),
            (None, "zeus: echo worker 3 [RUNNING] 57 tasks")
        );
        let (_, t) = title(
            &mut p,
            Event::WorkerWaiting {
                worker_id: 3,
                tasks: 1,
            },
            &ctx,
        );
        assert_eq!(t, "zeus: echo worker 3 [WAITING] 1 task");
    }

    #[test]
    fn a_hybrid_child_shows_its_threads_counts() {
        let mut p = ProcessTitle::default();
        let ctx = Ctx::worker("echo", Some(caps(true, true)), Vec::new());
        let (comm, t) = title(&mut p, Event::WorkerProcessStart { pid: 9 }, &ctx);
        assert_eq!(
            (comm.as_deref(), t.as_str()),
            (Some("echo workers"), "zeus: echo workers [STARTING]")
        );
        for id in 5..=8 {
            title(
                &mut p,
                Event::WorkerWaiting {
                    worker_id: id,
                    tasks: 10,
                },
                &ctx,
            );
        }
        let (_, t) = title(
            &mut p,
            Event::WorkerRunning {
                worker_id: 6,
                tasks: 17,
            },
            &ctx,
        );
        assert_eq!(t, "zeus: echo workers 5-8 [1 running, 3 waiting] 47 tasks");
        let (_, t) = title(
            &mut p,
            Event::WorkerExit {
                worker_id: 5,
                tasks: 10,
                code: 0,
                reason: "x",
            },
            &ctx,
        );
        assert_eq!(
            t,
            "zeus: echo workers 5-8 [1 running, 2 waiting, 1 exiting] 47 tasks"
        );
    }

    #[test]
    fn thread_workers_leave_the_title_to_the_scheduler() {
        let mut p = ProcessTitle::default();
        let ctx = Ctx::worker("echo", Some(caps(false, true)), Vec::new());
        assert!(p
            .format(
                &Event::WorkerRunning {
                    worker_id: 1,
                    tasks: 0
                },
                &ctx
            )
            .is_none());
        assert!(p
            .format(&Event::WorkerProcessStart { pid: 1 }, &ctx)
            .is_none());
    }
}
