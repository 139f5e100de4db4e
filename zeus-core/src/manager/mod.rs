//! The manager: the `zeus start` process. It stays single-threaded so it may fork; it binds
//! every listener, starts one scheduler process per service, restarts a scheduler that dies
//! (with backoff), and answers the CLI on the control socket.
//!
//! Signals: SIGTERM and SIGINT stop gracefully (a second one stops fast), SIGHUP is
//! reserved for reload. Schedulers run in their own process group, so a terminal's Ctrl-C
//! reaches only the manager, which then stops everything in order.

mod control;
mod rundir;
mod supervise;

pub use control::{request, Request, Response};
pub use rundir::{InstanceLock, RunDir};

use std::net::TcpListener;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;
use zeus_ipc::socket::ServiceSocket;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::app::{Prepared, PreparedService};
use crate::config::ConfigError;
use crate::error::CoreError;
use crate::event::{Event, EventBus};
use crate::registry::Catalog;
use crate::sys::Signals;
use supervise::{Managed, Supervisor};

const SIGNALS: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGUSR1,
];

/// Runs an instance in the foreground until it is stopped.
pub fn run(prepared: Prepared, catalog: Arc<Catalog>, only: Option<&str>) -> Result<(), CoreError> {
    if let Some(name) = only {
        prepared.check_service(name)?;
    }
    let logger = &prepared.loaded.config.logger;
    crate::logging::init(logger)?;
    let lock = prepared.run_dir.acquire()?;
    let services = bind_all(&prepared, only)?;
    if services.is_empty() {
        return Err(CoreError::Control(
            "no service to start: none has auto_start = true".into(),
        ));
    }
    crate::logging::banner(logger, env!("CARGO_PKG_VERSION"))?;
    let signals = Signals::new(SIGNALS).map_err(CoreError::sys("signalfd"))?;
    let control = bind_control(&prepared.run_dir)?;
    tracing::info!(
        "run dir {} (instance {})",
        prepared.run_dir.path().display(),
        prepared.run_dir.instance()
    );
    let manager_plugins = &prepared.loaded.config.manager.plugins;
    let mut events: EventBus = crate::plugin::for_manager(&catalog, manager_plugins)?;
    events.emit(Event::ManagerInit {
        pid: std::process::id(),
        services: services.iter().map(|s| s.name.clone()).collect(),
    });
    let mut sup = Supervisor::new(
        prepared,
        catalog,
        services,
        signals,
        control,
        events,
        lock.raw_fd(),
    );
    sup.start_all();
    sup.run();
    drop(lock);
    Ok(())
}

/// Binds the listeners of the services to start; an address in use is a configuration error.
fn bind_all(prepared: &Prepared, only: Option<&str>) -> Result<Vec<Managed>, CoreError> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for s in &prepared.services {
        let chosen = match only {
            Some(name) => s.name == name,
            None => s.config.auto_start,
        };
        if !chosen {
            continue;
        }
        match bind_service(prepared, s) {
            Ok(listeners) => out.push(Managed::new(s, Arc::new(listeners))),
            Err(e) => errs.extend(e),
        }
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(CoreError::Config(crate::config::ConfigErrors(errs)))
    }
}

/// Binds one service's listeners (non-blocking, shared by all its workers).
fn bind_service(
    prepared: &Prepared,
    s: &PreparedService,
) -> Result<Vec<TcpListener>, Vec<ConfigError>> {
    let mut listeners = Vec::new();
    let mut errs = Vec::new();
    for spec in s.service.listeners() {
        match crate::sys::tcp_listener(spec.addr) {
            Ok(l) => listeners.push(l),
            Err(e) => errs.push(
                ConfigError::at(
                    prepared.figment(),
                    &spec.key,
                    format!("cannot listen on {}: {e}", spec.addr),
                )
                .allowed("a free port (change it or stop what uses it)"),
            ),
        }
    }
    if errs.is_empty() {
        Ok(listeners)
    } else {
        Err(errs)
    }
}

fn bind_control(run: &RunDir) -> Result<ServiceSocket, CoreError> {
    let path = run.socket();
    ServiceSocket::bind(&path).map_err(CoreError::path(&path))
}

/// Waits for a signal or a control request, at most `timeout`.
fn wait(signals: &Signals, control: &ServiceSocket, timeout: Duration) {
    let mut fds = [
        PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        PollFd::new(control.as_fd(), PollFlags::POLLIN),
    ];
    let t =
        PollTimeout::try_from(timeout.max(Duration::from_millis(1))).unwrap_or(PollTimeout::MAX);
    let _ = nix::poll::poll(&mut fds, t);
}
