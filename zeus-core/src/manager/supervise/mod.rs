//! The manager's loop: start, watch, restart and stop scheduler processes, and serve the
//! control socket. Stop escalation per service: SIGTERM (the scheduler stops its workers
//! gracefully within `shutdown_timeout`), then SIGKILL after `shutdown_timeout + KILL_GRACE`.

mod reload;
mod requests;

use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use zeus_ipc::socket::{ReplyTo, ServiceSocket};

use super::control::Response;
use crate::app::{Prepared, PreparedService};
use crate::config::SchedulerConfig;
use crate::event::{Event, EventBus};
use crate::registry::Catalog;
use crate::scheduler::{self, SchedulerSpec};
use crate::service::Service;
use crate::sys::{self, Forked, Signals};

/// Extra time a scheduler gets after `shutdown_timeout` before it is killed.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// A scheduler that ran this long before dying is restarted without delay growth.
const STABLE_RUN: Duration = Duration::from_secs(30);
const RESTART_MAX: Duration = Duration::from_secs(30);

enum State {
    Running(Pid),
    Stopping {
        pid: Pid,
        deadline: Instant,
        killed: bool,
    },
    Restarting {
        at: Instant,
    },
    Stopped,
}

/// A service under the manager's supervision.
pub(super) struct Managed {
    pub name: String,
    scheduler: SchedulerConfig,
    service: Arc<dyn Service>,
    listeners: Arc<Vec<TcpListener>>,
    state: State,
    restarts: u32,
    started: Instant,
    /// Schedulers of an earlier configuration, finishing their tasks after a reload.
    draining: Vec<Draining>,
}

/// A replaced scheduler that finishes its tasks in hand.
struct Draining {
    pid: Pid,
    deadline: Instant,
    killed: bool,
}

impl Managed {
    pub fn new(p: &PreparedService, listeners: Arc<Vec<TcpListener>>) -> Self {
        Self {
            name: p.name.clone(),
            scheduler: p.scheduler.clone(),
            service: p.service.clone(),
            listeners,
            state: State::Restarting { at: Instant::now() },
            restarts: 0,
            started: Instant::now(),
            draining: Vec::new(),
        }
    }

    fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Running(pid) | State::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }
}

pub(super) struct Supervisor {
    prepared: Prepared,
    catalog: Arc<Catalog>,
    services: Vec<Managed>,
    signals: Signals,
    control: ServiceSocket,
    /// Where a control request is read (made once: the manager wakes often, requests rarely).
    control_buf: Vec<u8>,
    events: EventBus,
    /// Clients waiting for a stop to finish: (service or all, where to answer).
    waiters: Vec<(Option<String>, ReplyTo)>,
    stopping_all: bool,
    /// The instance lock's descriptor, closed in every scheduler.
    lock_fd: RawFd,
}

impl Supervisor {
    pub fn new(
        prepared: Prepared,
        catalog: Arc<Catalog>,
        services: Vec<Managed>,
        signals: Signals,
        control: ServiceSocket,
        events: EventBus,
        lock_fd: RawFd,
    ) -> Self {
        Self {
            prepared,
            catalog,
            services,
            signals,
            control,
            control_buf: vec![0; super::control::MAX_REQUEST],
            events,
            waiters: Vec::new(),
            stopping_all: false,
            lock_fd,
        }
    }

    pub fn start_all(&mut self) {
        for i in 0..self.services.len() {
            self.spawn(i);
        }
    }

    pub fn run(&mut self) {
        loop {
            super::wait(&self.signals, &self.control, self.next_timer());
            while let Some(sig) = self.signals.next() {
                match sig {
                    Signal::SIGCHLD => {}
                    Signal::SIGHUP if !self.stopping_all => {
                        tracing::info!("SIGHUP: reloading the configuration");
                        if let Err(e) = self.reload(None) {
                            tracing::error!("reload refused: {e}");
                        }
                    }
                    Signal::SIGHUP => {}
                    Signal::SIGUSR1 => {
                        let _ = self.reopen_logs("SIGUSR1");
                    }
                    _ if self.stopping_all => self.fast_stop(),
                    s => {
                        tracing::info!("{}: stopping all services", s.as_str());
                        self.stop_all();
                    }
                }
            }
            self.reap();
            self.serve_control();
            self.timers();
            if self
                .services
                .iter()
                .all(|s| matches!(s.state, State::Stopped) && s.draining.is_empty())
            {
                break;
            }
        }
        if !self.stopping_all {
            tracing::info!("no service left running");
        }
        tracing::info!("manager exiting");
        for (_, to) in std::mem::take(&mut self.waiters) {
            self.answer(&to, &Response::ok("stopped"));
        }
    }

    fn spawn(&mut self, i: usize) {
        let manager = nix::unistd::getpid();
        let to_close = self.fds_to_close(i);
        match sys::fork() {
            Ok(Forked::Parent(pid)) => {
                let s = &mut self.services[i];
                s.state = State::Running(pid);
                s.started = Instant::now();
                self.events.emit(Event::ServiceStart {
                    service: s.name.clone(),
                    pid: pid.as_raw() as u32,
                });
            }
            Ok(Forked::Child) => {
                let s = &self.services[i];
                let spec = SchedulerSpec {
                    service_name: s.name.clone(),
                    config: s.scheduler.clone(),
                    service: s.service.clone(),
                    listeners: s.listeners.clone(),
                    scoreboard_path: self.prepared.run_dir.scoreboard(&s.name),
                    manager_pid: manager.as_raw(),
                    catalog: self.catalog.clone(),
                    instance: self.prepared.run_dir.instance().to_owned(),
                    run_dir: self.prepared.run_dir.path().to_path_buf(),
                };
                std::process::exit(scheduler_child(manager, &to_close, spec))
            }
            Err(e) => {
                tracing::error!(
                    "cannot start the scheduler of {}: {e}",
                    self.services[i].name
                );
                self.schedule_restart(i);
            }
        }
    }

    /// Descriptors a scheduler must not keep: the manager's own and other services' sockets.
    fn fds_to_close(&self, keep: usize) -> Vec<RawFd> {
        use std::os::fd::AsFd;
        let control = self.control.as_fd().as_raw_fd();
        let mut fds = vec![self.signals_fd(), control, self.lock_fd];
        for (j, s) in self.services.iter().enumerate() {
            if j != keep {
                fds.extend(s.listeners.iter().map(AsRawFd::as_raw_fd));
            }
        }
        fds
    }

    fn signals_fd(&self) -> RawFd {
        use std::os::fd::AsFd;
        self.signals.as_fd().as_raw_fd()
    }

    fn schedule_restart(&mut self, i: usize) {
        let s = &mut self.services[i];
        if s.started.elapsed() >= STABLE_RUN {
            s.restarts = 0;
        }
        let delay = Duration::from_secs(1)
            .saturating_mul(1 << s.restarts.min(5))
            .min(RESTART_MAX);
        s.restarts += 1;
        tracing::warn!("restarting the scheduler of {} in {delay:?}", s.name);
        s.state = State::Restarting {
            at: Instant::now() + delay,
        };
    }

    fn reap(&mut self) {
        loop {
            let (pid, how) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, format!("exit code {code}")),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    (pid, format!("killed by {}", sig.as_str()))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if let Some(s) = self
                .services
                .iter_mut()
                .find(|s| s.draining.iter().any(|d| d.pid == pid))
            {
                s.draining.retain(|d| d.pid != pid);
                tracing::info!(
                    "the previous scheduler of {} (pid {pid}) has finished: {how}",
                    s.name
                );
                let name = s.name.clone();
                self.purge_channel(&name, pid);
                continue;
            }
            let Some(i) = self.services.iter().position(|s| s.pid() == Some(pid)) else {
                continue;
            };
            let name = self.services[i].name.clone();
            self.purge_channel(&name, pid);
            if matches!(self.services[i].state, State::Stopping { .. }) {
                self.mark_stopped(i, how);
            } else {
                tracing::error!(
                    "the scheduler of {} (pid {pid}) died: {how}",
                    self.services[i].name
                );
                let _ =
                    std::fs::remove_file(self.prepared.run_dir.scoreboard(&self.services[i].name));
                self.schedule_restart(i);
            }
        }
    }

    /// Removes what the scheduler `pid` of `service` left of its worker channel (nothing,
    /// unless it died without closing it).
    fn purge_channel(&self, service: &str, pid: Pid) {
        let run = &self.prepared.run_dir;
        let Ok(name) = crate::ipc::channel_name(run.instance(), service, pid.as_raw() as u32)
        else {
            return;
        };
        match zeus_ipc::name::purge_channel(&name, run.path()) {
            Ok(left) if !left.is_empty() => {
                tracing::info!("removed the channel objects scheduler {pid} left: {left:?}")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot purge channel {name}: {e}"),
        }
    }

    fn mark_stopped(&mut self, i: usize, how: String) {
        let s = &mut self.services[i];
        s.state = State::Stopped;
        // Close the manager's copy of the listeners: the port is free once the service stops.
        s.listeners = Arc::new(Vec::new());
        let name = s.name.clone();
        self.events.emit(Event::ServiceStop {
            service: name.clone(),
            status: how,
        });
        let (done, rest): (Vec<_>, Vec<_>) = self
            .waiters
            .drain(..)
            .partition(|(w, _)| w.as_deref() == Some(&name));
        self.waiters = rest;
        for (_, to) in done {
            self.answer(&to, &Response::ok(format!("service {name} stopped")));
        }
    }

    fn stop(&mut self, i: usize) {
        let grace =
            Duration::from_secs_f64(self.services[i].scheduler.shutdown_timeout) + KILL_GRACE;
        match self.services[i].state {
            State::Running(pid) => {
                let _ = kill(pid, Signal::SIGTERM);
                self.services[i].state = State::Stopping {
                    pid,
                    deadline: Instant::now() + grace,
                    killed: false,
                };
            }
            State::Restarting { .. } => self.mark_stopped(i, "was restarting".into()),
            State::Stopping { .. } | State::Stopped => {}
        }
    }

    fn stop_all(&mut self) {
        self.stopping_all = true;
        for i in 0..self.services.len() {
            self.stop(i);
        }
    }

    /// A second SIGINT/SIGTERM: schedulers kill their workers at once and clean up.
    fn fast_stop(&mut self) {
        tracing::warn!("second stop signal: stopping now, busy tasks are cut");
        for s in &self.services {
            for pid in s.pid().into_iter().chain(s.draining.iter().map(|d| d.pid)) {
                let _ = kill(pid, Signal::SIGUSR1);
            }
        }
    }

    fn next_timer(&self) -> Duration {
        let now = Instant::now();
        self.services
            .iter()
            .filter_map(|s| match s.state {
                State::Restarting { at } => Some(at.saturating_duration_since(now)),
                State::Stopping {
                    deadline,
                    killed: false,
                    ..
                } => Some(deadline.saturating_duration_since(now)),
                _ => None,
            })
            .chain(
                self.services
                    .iter()
                    .flat_map(|s| &s.draining)
                    .map(|d| d.deadline.saturating_duration_since(now)),
            )
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }

    fn timers(&mut self) {
        let now = Instant::now();
        for i in 0..self.services.len() {
            let name = self.services[i].name.clone();
            match &mut self.services[i].state {
                State::Restarting { at } if now >= *at && !self.stopping_all => self.spawn(i),
                State::Stopping {
                    pid,
                    deadline,
                    killed,
                } if !*killed && now >= *deadline => {
                    tracing::warn!("the scheduler of {name} did not stop in time: killing it");
                    let _ = kill(*pid, Signal::SIGKILL);
                    *killed = true;
                    let _ = std::fs::remove_file(self.prepared.run_dir.scoreboard(&name));
                }
                _ => {}
            }
            for d in &mut self.services[i].draining {
                if !d.killed && now >= d.deadline {
                    tracing::warn!(
                        "the previous scheduler of {name} did not finish in time: killing it"
                    );
                    let _ = kill(d.pid, Signal::SIGKILL);
                    d.killed = true;
                }
            }
        }
    }
}

/// The scheduler process, right after the fork.
fn scheduler_child(manager: Pid, to_close: &[RawFd], spec: SchedulerSpec) -> i32 {
    if nix::sys::prctl::set_pdeathsig(Signal::SIGUSR1).is_err() || nix::unistd::getppid() != manager
    {
        return 0;
    }
    // Own process group: a terminal's Ctrl-C goes to the manager only.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    for fd in to_close {
        let _ = nix::unistd::close(*fd);
    }
    scheduler::run(spec)
}
