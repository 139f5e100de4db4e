//! Graceful reload (`zeus reload [SERVICE]`, SIGHUP): re-read the configuration with the
//! options the instance was started with, and for every service whose effective configuration
//! changed, start a scheduler with the new one while the old scheduler finishes its tasks in
//! hand (httpd's graceful restart). Both accept on the same listening socket, which the manager
//! keeps open, so no connection is refused; a changed listen address gets a new socket. A
//! refused configuration changes nothing. Logger and `run_dir` changes need a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};

use super::{Draining, Managed, State, Supervisor, KILL_GRACE};
use crate::app::{self, Prepared, PreparedService};

impl Supervisor {
    /// Applies the configuration on disk; returns what changed, or why nothing did.
    pub(super) fn reload(&mut self, only: Option<&str>) -> Result<String, String> {
        let new = app::prepare_with(&self.catalog, &self.prepared.options)
            .map_err(|e| format!("configuration refused, nothing changed:\n{e}"))?;
        if new.run_dir.path() != self.prepared.run_dir.path() {
            return Err("run_dir cannot change on reload: restart zeus".into());
        }
        if let Some(name) = only {
            if !self.services.iter().any(|s| s.name == name)
                && new.services.iter().all(|s| s.name != name)
            {
                return Err(format!("no service named {name}"));
            }
        }
        let mut done = Vec::new();
        for i in 0..self.services.len() {
            let name = self.services[i].name.clone();
            if only.is_some_and(|o| o != name) || matches!(self.services[i].state, State::Stopped) {
                continue;
            }
            match new.services.iter().find(|s| s.name == name) {
                None => {
                    self.stop(i);
                    done.push(format!("{name}: removed from the configuration, stopping"));
                }
                Some(ns) if fingerprint(Some(ns)) != fingerprint(self.old(&name)) => {
                    self.replace(i, &new, ns)?;
                    done.push(format!(
                        "{name}: new scheduler started, the old one finishes its tasks"
                    ));
                }
                Some(_) => {}
            }
        }
        for ns in &new.services {
            let wanted = match only {
                Some(o) => o == ns.name,
                None => ns.config.auto_start,
            };
            if wanted
                && !self
                    .services
                    .iter()
                    .any(|s| s.name == ns.name && !matches!(s.state, State::Stopped))
            {
                let listeners = super::super::bind_service(&new, ns).map_err(render)?;
                self.services.retain(|s| s.name != ns.name);
                self.services.push(Managed::new(ns, Arc::new(listeners)));
                let i = self.services.len() - 1;
                self.spawn(i);
                done.push(format!("{}: started", ns.name));
            }
        }
        self.prepared = new;
        let msg = if done.is_empty() {
            "configuration reloaded: nothing changed".to_string()
        } else {
            done.join("\n")
        };
        tracing::info!("reload: {}", msg.replace('\n', "; "));
        Ok(msg)
    }

    fn old(&self, name: &str) -> Option<&PreparedService> {
        self.prepared.services.iter().find(|s| s.name == name)
    }

    /// Starts a scheduler with the new configuration; the running one drains.
    fn replace(&mut self, i: usize, new: &Prepared, ns: &PreparedService) -> Result<(), String> {
        let old_addrs: Vec<_> = self.services[i]
            .listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let new_addrs: Vec<_> = ns.service.listeners().iter().map(|l| l.addr).collect();
        let listeners = if old_addrs == new_addrs {
            self.services[i].listeners.clone()
        } else {
            // Release the old sockets first when an address is reused with other settings.
            Arc::new(super::super::bind_service(new, ns).map_err(render)?)
        };
        let s = &mut self.services[i];
        let grace = Duration::from_secs_f64(s.scheduler.shutdown_timeout) + KILL_GRACE;
        if let State::Running(pid) = s.state {
            // SIGUSR2: a graceful stop that leaves the scoreboard name to the new scheduler.
            let _ = kill(pid, Signal::SIGUSR2);
            s.draining.push(Draining {
                pid,
                deadline: Instant::now() + grace,
                killed: false,
            });
        }
        s.scheduler = ns.scheduler.clone();
        s.service = ns.service.clone();
        s.listeners = listeners;
        s.restarts = 0;
        self.spawn(i);
        Ok(())
    }
}

/// What decides whether a service changed: its section, its scheduler and its settings.
fn fingerprint(s: Option<&PreparedService>) -> String {
    match s {
        Some(s) => serde_json::json!([s.config, s.scheduler, s.settings]).to_string(),
        None => String::new(),
    }
}

fn render(errs: Vec<crate::config::ConfigError>) -> String {
    errs.iter()
        .map(|e| format!("configuration error: {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
