//! The scheduler: one process per service. It owns the scoreboard, keeps the worker pool
//! within bounds through the MPM, replaces workers that exit or crash (with a growing delay
//! when they crash at once, so never a fork storm), and stops them gracefully.
//!
//! Each tick is observe (reap, read the scoreboard) → `plan` (pure) → act (spawn / retire).

mod plan;

pub use plan::{plan, Bounds, Plan, PoolView};

use std::net::TcpListener;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::config::SchedulerConfig;
use crate::discipline::{self, Discipline, IdleWorker};
use crate::mpm::{self, Mpm, WorkerBody, WorkerExit};
use crate::scoreboard::{Describe, Limits, Scoreboard, WorkerState};
use crate::service::Service;
use crate::sys::{now_ms, Signals};
use crate::worker::{self, WorkerEnv};

/// Signals the scheduler reads: SIGUSR1 is its parent-death signal (manager gone: fast stop).
pub(crate) const SIGNALS: &[Signal] = &[
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
];

const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long a fast stop waits for killed workers to be reaped.
const FAST_STOP_WAIT: Duration = Duration::from_millis(800);

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
}

enum Phase {
    Running,
    Stopping { deadline: Instant, killed: bool },
}

struct Scheduler {
    spec_name: String,
    cfg: SchedulerConfig,
    board: Arc<Scoreboard>,
    mpm: Box<dyn Mpm>,
    discipline: Box<dyn Discipline>,
    body: WorkerBody,
    next_id: u64,
    crash_streak: u32,
    spawn_after: Option<Instant>,
    next_sample: Instant,
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
    fn new(spec: SchedulerSpec) -> Result<(Self, Signals), crate::error::CoreError> {
        let cfg = spec.config;
        let mpm = mpm::create(&cfg.multiprocessing_module).ok_or_else(|| {
            crate::error::CoreError::Control(format!("unknown MPM {}", cfg.multiprocessing_module))
        })?;
        let discipline = discipline::create(&cfg.scheduler_discipline).ok_or_else(|| {
            crate::error::CoreError::Control(format!(
                "unknown discipline {}",
                cfg.scheduler_discipline
            ))
        })?;
        let signals = Signals::new(SIGNALS).map_err(crate::error::CoreError::sys("signalfd"))?;
        let describe = Describe {
            service: spec.service_name.clone(),
            mpm: mpm.name().into(),
            discipline: discipline.name().into(),
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
            Scoreboard::create(&spec.scoreboard_path, cfg.max_processes as usize, &describe)
                .map_err(crate::error::CoreError::path(&spec.scoreboard_path))?,
        );
        let env = WorkerEnv {
            service_name: spec.service_name.clone(),
            service: spec.service,
            board: board.clone(),
            listeners: spec.listeners,
            max_tasks: cfg.max_process_tasks,
        };
        let body: WorkerBody = Arc::new(move |slot, stop| worker::run(&env, slot, stop));
        let s = Self {
            spec_name: spec.service_name,
            cfg,
            board,
            mpm,
            discipline,
            body,
            next_id: 1,
            crash_streak: 0,
            spawn_after: None,
            next_sample: Instant::now(),
        };
        Ok((s, signals))
    }

    fn run(mut self, mut signals: Signals) -> i32 {
        tracing::info!(
            "scheduler started: mpm {}, {} workers at start, max {}, spares {}..{}",
            self.mpm.name(),
            self.cfg.start_processes,
            self.cfg.max_processes,
            self.cfg.min_spare_processes,
            self.cfg.max_spare_processes
        );
        let mut phase = Phase::Running;
        loop {
            let timeout = self.poll_timeout(&phase);
            let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            let _ = nix::poll::poll(
                &mut fds,
                PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX),
            );
            while let Some(sig) = signals.next() {
                phase = self.on_signal(sig, phase);
            }
            for exit in self.mpm.reap() {
                self.on_exit(exit, matches!(phase, Phase::Running));
            }
            match &mut phase {
                Phase::Running => self.tick(),
                Phase::Stopping { deadline, killed } => {
                    if self.mpm.live() == 0 {
                        break;
                    }
                    if !*killed && Instant::now() >= *deadline {
                        tracing::warn!(
                            "shutdown_timeout ({}s) passed: killing {} workers still busy",
                            self.cfg.shutdown_timeout,
                            self.mpm.live()
                        );
                        self.for_each_live(|mpm, slot| mpm.kill(slot));
                        *killed = true;
                    }
                }
            }
        }
        tracing::info!("scheduler stopped: {} tasks done", self.board.total_tasks());
        self.board.unlink();
        0
    }

    fn poll_timeout(&self, phase: &Phase) -> Duration {
        match phase {
            Phase::Stopping { .. } => Duration::from_millis(50),
            Phase::Running => {
                let now = Instant::now();
                let mut t = self.next_sample.saturating_duration_since(now);
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
                tracing::warn!("manager is gone: killing workers and exiting");
                self.fast_stop();
                // `exit` runs no destructor: remove the scoreboard here.
                self.board.unlink();
                std::process::exit(0)
            }
            (Signal::SIGHUP, phase) => {
                tracing::info!("SIGHUP: reload is not supported yet; ignored");
                phase
            }
            (_, Phase::Running) => {
                let live = self.mpm.live();
                tracing::info!("stopping: {live} workers finish their task in hand");
                self.board.set_stopping();
                self.for_each_live(|mpm, slot| mpm.stop(slot));
                let grace = Duration::from_secs_f64(self.cfg.shutdown_timeout);
                Phase::Stopping {
                    deadline: Instant::now() + grace,
                    killed: false,
                }
            }
            (_, phase) => phase,
        }
    }

    /// Applies `f` to every live worker's slot. Idle ones are marked TERMINATED; busy ones
    /// stay RUNNING until their task ends, so `zeus status` shows what is still being served.
    fn for_each_live(&mut self, mut f: impl FnMut(&mut dyn Mpm, usize)) {
        for i in 0..self.board.slot_count() {
            let slot = self.board.slot(i);
            match slot.state() {
                WorkerState::Empty | WorkerState::Exited => continue,
                WorkerState::Started | WorkerState::Waiting => {
                    slot.set_state(WorkerState::Terminated)
                }
                WorkerState::Running | WorkerState::Terminated => {}
            }
            f(self.mpm.as_mut(), i);
        }
    }

    fn fast_stop(&mut self) {
        self.board.set_stopping();
        self.for_each_live(|mpm, slot| mpm.kill(slot));
        let until = Instant::now() + FAST_STOP_WAIT;
        while self.mpm.live() > 0 && Instant::now() < until {
            for exit in self.mpm.reap() {
                self.board
                    .retire_tasks(self.board.slot(exit.slot).release());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn on_exit(&mut self, e: WorkerExit, running: bool) {
        let slot = self.board.slot(e.slot);
        let id = slot.worker_id();
        // Died before it ever became ready: a crash at start, which must not become a fork storm.
        let at_start = slot.state() == WorkerState::Started;
        let tasks = slot.release();
        self.board.retire_tasks(tasks);
        if e.status.is_clean() {
            tracing::info!("worker {id} (pid {}) exited after {tasks} tasks", e.pid);
            self.crash_streak = 0;
            return;
        }
        let then = if running { "; replacing it" } else { "" };
        tracing::warn!(
            "worker {id} (pid {}) died: {} after {tasks} tasks{then}",
            e.pid,
            e.status
        );
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

    /// 100 ms, 200 ms, 400 ms … up to 10 s, growing with consecutive failures.
    fn backoff(&self) -> Duration {
        BACKOFF_BASE
            .saturating_mul(1 << self.crash_streak.saturating_sub(1).min(10))
            .min(BACKOFF_MAX)
    }

    fn observe(&self) -> (PoolView, Vec<IdleWorker>) {
        let mut v = PoolView::default();
        let mut idle = Vec::new();
        for i in 0..self.board.slot_count() {
            let s = self.board.slot(i);
            match s.state() {
                WorkerState::Empty => {}
                WorkerState::Started => v.starting += 1,
                WorkerState::Waiting => {
                    v.idle += 1;
                    idle.push(IdleWorker {
                        slot: i,
                        idle_since_ms: s.changed_ms(),
                        tasks: s.tasks(),
                    });
                }
                WorkerState::Running => v.busy += 1,
                WorkerState::Terminated | WorkerState::Exited => v.ending += 1,
            }
        }
        (v, idle)
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if now >= self.next_sample {
            self.board.record_sample(now_ms());
            self.next_sample = now + Duration::from_secs(1);
        }
        let (view, idle) = self.observe();
        let bounds = Bounds {
            start: self.cfg.start_processes,
            max: self.cfg.max_processes,
            min_spare: self.cfg.min_spare_processes,
            max_spare: self.cfg.max_spare_processes,
        };
        let p = plan(&view, &bounds);
        if p.spawn > 0 && self.spawn_after.is_none_or(|at| now >= at) {
            self.spawn_after = None;
            // While workers crash at start, add one at a time.
            let n = if self.crash_streak > 0 { 1 } else { p.spawn };
            for _ in 0..n {
                self.spawn_one();
            }
        }
        if p.retire > 0 {
            for slot in self.discipline.pick(&idle, p.retire as usize) {
                tracing::info!(
                    "ending idle worker {} (more than {} spare)",
                    self.board.slot(slot).worker_id(),
                    bounds.max_spare
                );
                self.board.slot(slot).set_state(WorkerState::Terminated);
                self.mpm.stop(slot);
            }
        }
    }

    fn spawn_one(&mut self) {
        let Some(index) = (0..self.board.slot_count())
            .find(|&i| self.board.slot(i).state() == WorkerState::Empty)
        else {
            return;
        };
        let slot = self.board.slot(index);
        let id = self.next_id;
        self.next_id += 1;
        slot.claim(id);
        match self.mpm.spawn(index, &self.body) {
            Ok(pid) => {
                slot.set_ids(pid, pid);
                self.board.count_spawn();
                tracing::info!("worker {id} started (pid {pid})");
            }
            Err(e) => {
                slot.release();
                self.crash_streak += 1;
                self.spawn_after = Some(Instant::now() + self.backoff());
                tracing::error!("cannot start a worker for {}: {e}", self.spec_name);
            }
        }
    }
}
