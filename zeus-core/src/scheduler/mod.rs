//! The scheduler: one process per service. It owns the scoreboard, keeps the worker pool
//! within bounds through the MPM, replaces workers that exit or crash (with a growing delay
//! when they crash at start, so never a fork storm), and stops them gracefully.
//!
//! Each tick is observe (reap, read the scoreboard) → `plan` (pure) → act (spawn / retire).
//! Two pool modes: prefork (`enable_process_cache = true`: spares between the bounds, spawns
//! ramped 1, 2, 4 … per second like httpd) and on-demand (`false`: a worker is started when a
//! connection waits and none is idle, and ends after `process_idle_timeout`, like php-fpm).
//!
//! The scheduler also owns its service's channel (`ipc_adapter`, see [`crate::ipc`] and
//! `channel.rs`): created before any worker, drained every loop (it writes its workers' log
//! lines), used for commands (stop with a reason, reopen logs), removed when it stops.

mod channel;
mod exits;
mod maintain;
mod plan;
mod pool;

pub use plan::{plan, Bounds, Plan, PoolView, Ramp};

use std::net::TcpListener;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::config::SchedulerConfig;
use crate::discipline::Discipline;
use crate::error::CoreError;
use crate::event::{Event, EventBus};
use crate::mpm::{Capabilities, Mpm, WorkerBody};
use crate::registry::Catalog;
use crate::scoreboard::{Describe, Limits, Scoreboard, WorkerState};
use crate::service::Service;
use crate::sys::Signals;
use crate::worker::{self, WorkerEnv};
use pool::Pool;

/// Signals the scheduler reads: SIGTERM/SIGINT stop gracefully; SIGUSR2 too, for a scheduler
/// replaced by a reload (its successor owns the scoreboard's name, so it must not remove it);
/// SIGUSR1 is its parent-death signal (manager gone: fast stop); SIGHUP reopens the log file
/// and has the workers do the same (the manager relays its own SIGUSR1 as SIGHUP).
pub(crate) const SIGNALS: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// httpd's MAX_SPAWN_RATE: at most this many units started per second by the ramp.
const MAX_SPAWN_RATE: u32 = 32;
/// How long a fast stop waits for killed workers to be reaped.
const FAST_STOP_WAIT: Duration = Duration::from_millis(800);
/// The pool is re-planned at least this often.
const TICK: Duration = Duration::from_millis(100);
/// While stopping, the scheduler checks its deadline at least this often.
const STOPPING_TICK: Duration = Duration::from_millis(50);
/// After a plugin refuses a `WorkerCreate`, no worker is created for this long.
const VETO_HOLD: Duration = Duration::from_secs(1);

/// What a scheduler process needs to run one service.
pub struct SchedulerSpec {
    /// Service name.
    pub service_name: String,
    /// Its scheduler's configuration.
    pub config: SchedulerConfig,
    /// The service.
    pub service: Arc<dyn Service>,
    /// Bound listeners, shared by every worker.
    pub listeners: Arc<Vec<TcpListener>>,
    /// Where the scoreboard segment goes (`/dev/shm/zeus.<instance>.<service>.scoreboard`).
    pub scoreboard_path: PathBuf,
    /// Pid of the manager.
    pub manager_pid: i32,
    /// The registries (MPMs, disciplines) to build from.
    pub catalog: Arc<Catalog>,
    /// The instance id, for the channel's name.
    pub instance: String,
    /// The run dir, where FIFO and socket channel files go.
    pub run_dir: PathBuf,
}

enum Phase {
    Running,
    Stopping { deadline: Instant, killed: bool },
}

struct Scheduler {
    cfg: SchedulerConfig,
    board: Arc<Scoreboard>,
    listeners: Arc<Vec<TcpListener>>,
    mpm: Box<dyn Mpm>,
    caps: Capabilities,
    discipline: Box<dyn Discipline>,
    body: WorkerBody,
    next_id: u64,
    crash_streak: u32,
    spawn_after: Option<Instant>,
    next_sample: Instant,
    /// The pool is planned again by then at the latest.
    next_tick: Instant,
    next_retire: Instant,
    ramp: Ramp,
    warned_max: bool,
    /// First slots of units this scheduler asked to stop: they are not replaced when they end.
    stopped: std::collections::HashSet<usize>,
    /// First slots of leaving units whose replacement already started (recycling overlap):
    /// they are not replaced again when they end.
    overlapped: std::collections::HashSet<usize>,
    /// Stopped by a reload: the successor now owns the scoreboard's name.
    replaced: bool,
    events: EventBus,
    /// The scheduler end of the worker channel.
    hub: crate::ipc::Hub,
    /// Why workers said they exit, by worker id, until they are reaped.
    exit_reasons: std::collections::HashMap<u64, String>,
    /// Log lines written for worker processes.
    worker_lines: u64,
}

/// Runs the scheduler until its service is stopped; returns the process exit code.
pub fn run(spec: SchedulerSpec) -> i32 {
    let span = tracing::info_span!(parent: None, "scheduler", service = %spec.service_name, pid = std::process::id());
    let _entered = span.enter();
    match Scheduler::new(spec).map(|(s, sig)| s.run(sig)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("scheduler failed to start: {e}");
            1
        }
    }
}

impl Scheduler {
    fn new(spec: SchedulerSpec) -> Result<(Self, Signals), CoreError> {
        let cfg = spec.config;
        let unknown = |what: &str, name: &str| CoreError::Control(format!("unknown {what} {name}"));
        let mpm = spec
            .catalog
            .mpms
            .get(&cfg.multiprocessing_module)
            .ok_or_else(|| unknown("MPM", &cfg.multiprocessing_module))?(&cfg)?;
        let discipline =
            spec.catalog
                .disciplines
                .get(&cfg.scheduler_discipline)
                .ok_or_else(|| unknown("discipline", &cfg.scheduler_discipline))?();
        let signals = Signals::new(SIGNALS).map_err(CoreError::sys("signalfd"))?;
        // The pool's slots, then the reserve in which replacements of recycled workers start
        // while those finish (whole units; within the channel's mailbox limit, so a pool
        // configured at that limit keeps working, without the overlap).
        let unit = mpm.capabilities().unit;
        let reserve = (cfg.recycle_overlap as usize).div_ceil(unit) * unit;
        let max = cfg.max_processes as usize;
        let slots = (max + reserve).min(max.max(zeus_ipc::MAX_WORKERS as usize));
        let (hub, inboxes) = channel::create(
            &spec.service_name,
            &spec.instance,
            &spec.run_dir,
            &cfg,
            slots,
        )?;
        let describe = Describe {
            service: spec.service_name.clone(),
            mpm: mpm.name().into(),
            discipline: discipline.name().into(),
            ipc: hub.adapter().as_str().into(),
            limits: Limits {
                start: cfg.start_processes,
                max: cfg.max_processes,
                min_spare: cfg.min_spare_processes,
                max_spare: cfg.max_spare_processes,
                max_tasks: cfg.max_process_tasks,
            },
            manager_pid: spec.manager_pid,
        };
        let board = Arc::new(
            Scoreboard::create(&spec.scoreboard_path, slots, &describe)
                .map_err(CoreError::path(&spec.scoreboard_path))?,
        );
        let (events, plugins) = crate::plugin::for_scheduler(
            &spec.catalog,
            &cfg.plugins,
            &spec.service_name,
            mpm.capabilities(),
            &spec.scoreboard_path,
        )?;
        let env = WorkerEnv {
            plugins,
            service_name: spec.service_name,
            service: spec.service,
            board: board.clone(),
            listeners: spec.listeners.clone(),
            max_tasks: cfg.max_process_tasks,
            max_memory: cfg.max_process_memory.0,
            inboxes,
            scheduler_pid: std::process::id(),
        };
        let env = Arc::new(env);
        let host = env.clone();
        let body = WorkerBody::new(move |start| worker::run(&env, start))
            .with_start_process(move || host.plugins.start_process().map_err(CoreError::Control));
        let now = Instant::now();
        let s = Self {
            caps: mpm.capabilities(),
            cfg,
            board,
            listeners: spec.listeners,
            mpm,
            discipline,
            body,
            next_id: 1,
            crash_streak: 0,
            spawn_after: None,
            next_sample: now,
            next_tick: now,
            next_retire: now,
            ramp: Ramp::new(MAX_SPAWN_RATE),
            warned_max: false,
            stopped: std::collections::HashSet::new(),
            overlapped: std::collections::HashSet::new(),
            replaced: false,
            events,
            hub,
            exit_reasons: std::collections::HashMap::new(),
            worker_lines: 0,
        };
        Ok((s, signals))
    }

    fn pool(&self) -> Pool<'_> {
        Pool {
            board: &self.board,
            unit: self.caps.unit,
            max_units: self.cfg.max_processes as usize / self.caps.unit,
        }
    }

    fn run(mut self, mut signals: Signals) -> i32 {
        let c = &self.cfg;
        let mode = if c.enable_process_cache {
            "prefork"
        } else {
            "on demand"
        };
        tracing::info!(
            "scheduler started: mpm {} ({mode}), ipc {}, {} workers at start, max {}, spares {}..{}",
            self.mpm.name(),
            self.hub.adapter(),
            if c.enable_process_cache {
                c.start_processes
            } else {
                0
            },
            c.max_processes,
            c.min_spare_processes,
            c.max_spare_processes
        );
        self.events.emit(Event::SchedulerStart {
            pid: std::process::id(),
            mpm: self.mpm.name(),
        });
        if self.cfg.enable_process_cache {
            let units = (self.cfg.start_processes as usize).div_ceil(self.caps.unit);
            for _ in 0..units {
                self.spawn_unit();
            }
        }
        let mut phase = Phase::Running;
        loop {
            let (pending, mail_only) = self.wait(&signals, &phase);
            if mail_only {
                // The pool is planned at its own pace, not each time the mailbox is read.
                self.drain_channel();
                if matches!(phase, Phase::Running) {
                    self.replace_leaving();
                }
                continue;
            }
            while let Some(sig) = signals.next() {
                phase = self.on_signal(sig, phase);
            }
            self.next_tick = Instant::now()
                + match phase {
                    Phase::Running => TICK,
                    Phase::Stopping { .. } => STOPPING_TICK,
                };
            // Reap, then drain: a worker sends its last lines and exit report before it
            // ends, so those of every unit reaped here are in the mailbox by now.
            let exits = self.mpm.reap();
            self.drain_channel();
            for exit in exits {
                self.on_exit(exit, matches!(phase, Phase::Running));
            }
            if matches!(phase, Phase::Running) {
                self.replace_leaving();
            }
            match &mut phase {
                Phase::Running if self.cfg.enable_process_cache => self.tick_prefork(),
                Phase::Running => self.tick_on_demand(pending),
                Phase::Stopping { deadline, killed } => {
                    if self.mpm.live() == 0 {
                        break;
                    }
                    if !*killed && Instant::now() >= *deadline {
                        tracing::warn!(
                            "shutdown_timeout ({}s) passed: ending {} busy worker units now",
                            self.cfg.shutdown_timeout,
                            self.mpm.live()
                        );
                        if !self.caps.can_kill {
                            self.drain_channel();
                            break; // threads end with this process
                        }
                        for first in self.pool().live_units() {
                            self.mpm.kill(first);
                        }
                        *killed = true;
                    }
                }
            }
            if matches!(phase, Phase::Running) {
                let (pool, tasks) = (self.pool().view(), self.board.total_tasks());
                self.events.emit(Event::SchedulerLoop { pool, tasks });
            }
        }
        let tasks = self.board.total_tasks();
        self.events.emit(Event::SchedulerStop { tasks });
        tracing::info!(
            "scheduler stopped: {} tasks done; {} worker log lines written",
            self.board.total_tasks(),
            self.worker_lines
        );
        self.hub.close();
        if !self.replaced {
            self.board.unlink();
        }
        0
    }

    /// Sleeps until a signal, a worker exit, a timer, mail from the workers or (on demand,
    /// with no idle worker) a waiting connection; returns whether a connection is waiting,
    /// and whether only the mailbox is due (nothing else happened, no timer is due). The
    /// mailbox is one more descriptor in the same `poll` where the adapter has one
    /// (`zeus_ipc::Readiness`); otherwise the sleep is capped at `channel::POLL`.
    fn wait(&self, signals: &Signals, phase: &Phase) -> (bool, bool) {
        let watch_listeners =
            matches!(phase, Phase::Running) && !self.cfg.enable_process_cache && {
                let v = self.pool().view();
                v.idle + v.starting == 0 && self.pool().free_units() > 0
            };
        let timer = self.poll_timeout(phase);
        let due = Instant::now() + timer;
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = self.mpm.wake_fd() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let not_mail = fds.len();
        let timeout = match self.hub.arm() {
            zeus_ipc::Wait::Fd(fd) => {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                timer
            }
            zeus_ipc::Wait::Ready => Duration::ZERO,
            zeus_ipc::Wait::Timer => timer.min(channel::POLL),
        };
        let first_listener = fds.len();
        if watch_listeners {
            fds.extend(
                self.listeners
                    .iter()
                    .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN)),
            );
        }
        // Whole milliseconds, rounded up: rounded down, a sleep would end just before its
        // timer and take a second wake-up to reach it.
        let ms = Duration::from_millis(timeout.as_micros().div_ceil(1000) as u64);
        let ready = nix::poll::poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        let pending = fds[first_listener..]
            .iter()
            .any(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)));
        let others = pending
            || fds[..not_mail]
                .iter()
                .any(|f| f.revents().is_some_and(|r| !r.is_empty()));
        drop(fds);
        self.hub.disarm();
        (pending, !others && ready.is_ok() && Instant::now() < due)
    }

    /// Time to the next timer. Timers are instants (`next_tick` …), so the short waits that
    /// only read the mailbox do not push them back.
    fn poll_timeout(&self, phase: &Phase) -> Duration {
        let now = Instant::now();
        let tick = self.next_tick.saturating_duration_since(now);
        match phase {
            Phase::Stopping { .. } => tick.max(Duration::from_millis(1)),
            Phase::Running => {
                let mut t = tick.min(self.next_sample.saturating_duration_since(now));
                if let Some(at) = self.spawn_after {
                    t = t.min(at.saturating_duration_since(now));
                }
                t.max(Duration::from_millis(1))
            }
        }
    }

    fn on_signal(&mut self, sig: Signal, phase: Phase) -> Phase {
        match (sig, phase) {
            (Signal::SIGCHLD, phase) => phase,
            (Signal::SIGUSR1, _) => {
                tracing::warn!("manager is gone: ending workers and exiting");
                self.fast_stop();
                let tasks = self.board.total_tasks();
                self.events.emit(Event::SchedulerStop { tasks });
                // `exit` runs no destructor: remove the scoreboard and channel here.
                self.drain_channel();
                self.hub.close();
                self.board.unlink();
                std::process::exit(0)
            }
            (Signal::SIGHUP, phase) => {
                self.reopen_logs();
                phase
            }
            (sig, Phase::Running) => {
                self.replaced = sig == Signal::SIGUSR2;
                let why = if self.replaced {
                    "replaced by a reload"
                } else {
                    "service stopping"
                };
                tracing::info!(
                    "stopping: {} worker units finish their tasks in hand",
                    self.mpm.live()
                );
                self.board.set_stopping();
                for first in self.pool().live_units() {
                    self.mark(first, WorkerState::Terminated);
                    self.stop_unit(first, why);
                }
                let grace = Duration::from_secs_f64(self.cfg.shutdown_timeout);
                Phase::Stopping {
                    deadline: Instant::now() + grace,
                    killed: false,
                }
            }
            (_, phase) => phase,
        }
    }
}
