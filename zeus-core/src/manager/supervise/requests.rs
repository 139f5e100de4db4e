//! Control-socket requests to the manager (`zeus stop`, `list`, `reload`, `reopen-logs`,
//! ping): each answered with one datagram, a stop only once it is done.

use nix::sys::signal::{kill, Signal};

use zeus_ipc::socket::ReplyTo;

use super::super::control::{self, Request, Response};
use super::{State, Supervisor};

impl Supervisor {
    pub(super) fn serve_control(&mut self) {
        loop {
            let buf = &mut self.control_buf;
            let incoming = match self.control.next_request(buf) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("control socket: {e}");
                    return;
                }
            };
            let to = incoming.from;
            let req = match control::parse_request(&buf[..incoming.len], incoming.truncated) {
                Ok(r) => r,
                Err(e) => {
                    self.answer(&to, &Response::err(e));
                    continue;
                }
            };
            match req {
                Request::Ping => self.answer(
                    &to,
                    &Response::ok(format!("zeus {}", env!("CARGO_PKG_VERSION"))),
                ),
                Request::List { service } => {
                    let mut r = Response::ok("effective configuration");
                    r.entries = self.prepared.entries(service.as_deref());
                    self.answer(&to, &r);
                }
                Request::ReopenLogs => {
                    let resp = match self.reopen_logs("reopen-logs") {
                        Ok(msg) => Response::ok(msg),
                        Err(e) => Response::err(e),
                    };
                    self.answer(&to, &resp);
                }
                Request::Reload { service } => {
                    let resp = match self.reload(service.as_deref()) {
                        Ok(msg) => Response::ok(msg),
                        Err(e) => Response::err(e),
                    };
                    self.answer(&to, &resp);
                }
                Request::Stop { service: None } => {
                    tracing::info!("stop requested from the command line");
                    self.waiters.push((None, to));
                    self.stop_all();
                }
                Request::Stop {
                    service: Some(name),
                } => self.stop_one(name, to),
            }
        }
    }

    /// Answers one control client.
    pub(super) fn answer(&self, to: &ReplyTo, resp: &Response) {
        control::write_response(&self.control, to, resp);
    }

    pub(super) fn stop_one(&mut self, name: String, to: ReplyTo) {
        let Some(i) = self.services.iter().position(|s| s.name == name) else {
            let running: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
            let msg = format!(
                "service {name} is not running here (running: {})",
                running.join(", ")
            );
            return self.answer(&to, &Response::err(msg));
        };
        if matches!(self.services[i].state, State::Stopped) {
            return self.answer(
                &to,
                &Response::err(format!("service {name} is already stopped")),
            );
        }
        tracing::info!("stopping service {name} (requested from the command line)");
        self.waiters.push((Some(name), to));
        self.stop(i);
    }

    /// SIGUSR1 or `zeus reopen-logs`: reopens the manager's log file and has every scheduler
    /// (SIGHUP), and through it every worker process, reopen theirs; returns what it did.
    pub(super) fn reopen_logs(&self, why: &str) -> Result<String, String> {
        let mine = match crate::logging::reopen() {
            Ok(true) => "log file reopened",
            Ok(false) => "the log output is not a file",
            Err(e) => {
                tracing::error!("{why}: cannot reopen the log file: {e}");
                return Err(format!("cannot reopen the log file: {e}"));
            }
        };
        let mut told = 0;
        for s in &self.services {
            for pid in s.pid().into_iter().chain(s.draining.iter().map(|d| d.pid)) {
                told += usize::from(kill(pid, Signal::SIGHUP).is_ok());
            }
        }
        let msg = format!("{mine}; {told} schedulers told to reopen theirs");
        tracing::info!("{why}: {msg}");
        Ok(msg)
    }
}
