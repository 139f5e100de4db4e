//! The scheduler's side of its worker channel: created before any worker (one mailbox per
//! scoreboard slot), drained every loop, and used for commands to a unit's workers.
//!
//! The scheduler sleeps on its mailbox in the same `poll` as its signals (SIGCHLD, stop,
//! reload) and, under `thread`, its workers' exits ([`zeus_ipc::Readiness`]): the `fifo`
//! and `socket` adapters have a descriptor, and the `mmap` hub mailbox an eventfd that a
//! worker rings only while the scheduler sleeps (an awake scheduler costs a sender no system
//! call). `sysv` has none: its wait is capped at [`POLL`], so a worker's line or report is
//! written at most that late. Either way every message is handled before its sender's exit
//! (the loop drains before it reaps).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use zeus_ipc::IpcAdapter;

use super::Scheduler;
use crate::config::{PluginSpec, SchedulerConfig};
use crate::error::CoreError;
use crate::ipc::{channel_name, Hub, Inboxes, ToHub, ToWorker};
use crate::sys::creds;

/// Longest the scheduler sleeps without looking at a mailbox that has no descriptor (a sysv
/// or mmap hub whose doorbell could not be made, or a closed channel).
pub(super) const POLL: Duration = Duration::from_millis(20);

/// Creates the channel named after the instance, the service and this scheduler's pid, with
/// a mailbox and an endpoint for each of the scoreboard's `slots`; `auto` is resolved here.
pub(super) fn create(
    service: &str,
    instance: &str,
    run_dir: &Path,
    cfg: &SchedulerConfig,
    slots: usize,
) -> Result<(Hub, Arc<Inboxes>), CoreError> {
    let adapter: IpcAdapter = cfg
        .ipc_adapter
        .parse()
        .map_err(|e: zeus_ipc::UnknownAdapter| CoreError::Control(e.to_string()))?;
    let name = channel_name(instance, service, std::process::id())?;
    let created = Hub::create(adapter, name, run_dir, slots)?;
    if let Some((uid, gid)) = dropped_to(cfg) {
        // Workers (or, under `thread`, this process) will run as uid:gid: the SysV objects
        // are checked at every call, the files when opened or removed.
        if let Err(e) = created.0.grant(uid, gid) {
            tracing::warn!(
                "ipc_adapter {}: cannot give the channel to uid {uid} gid {gid} for \
                 drop_privileges ({e}); workers that dropped privileges may not use it (their \
                 lines are written directly, stop goes by signal only)",
                created.0.adapter()
            );
        }
    }
    Ok(created)
}

/// The uid and gid the `drop_privileges` plugin switches to, if configured (its options were
/// checked when the configuration was prepared).
fn dropped_to(cfg: &SchedulerConfig) -> Option<(u32, u32)> {
    let spec = cfg
        .plugins
        .iter()
        .find(|p| p.name() == Some("drop_privileges"))?;
    let PluginSpec::Table(options) = spec else {
        return None;
    };
    let (uid, primary) = creds::user_by_name(options.get("user")?.as_str()?).ok()??;
    let gid = match options.get("group").and_then(|g| g.as_str()) {
        Some(group) => creds::group_by_name(group).ok()??,
        None => primary,
    };
    Some((uid, gid))
}

impl Scheduler {
    /// Writes the workers' log lines and records their reports.
    pub(super) fn drain_channel(&mut self) {
        let (reasons, lines) = (&mut self.exit_reasons, &mut self.worker_lines);
        self.hub.drain(|msg| match msg {
            ToHub::Log(line) => {
                crate::logging::write_line(line);
                *lines += 1;
            }
            ToHub::Started {
                worker_id,
                pid,
                tid,
            } => tracing::debug!("worker {worker_id} reports it runs (pid {pid}, tid {tid})"),
            ToHub::Exiting {
                worker_id,
                code,
                reason,
            } => {
                tracing::debug!("worker {worker_id} reports it exits with code {code}: {reason}");
                reasons.insert(worker_id, reason.to_owned());
            }
            ToHub::Leaving { worker_id, reason } => {
                tracing::debug!("worker {worker_id} reports it is leaving: {reason}");
            }
        });
    }

    /// Sends `cmd(worker id)` to each worker of the unit at `first`; true if all were sent.
    pub(super) fn command_unit<'a>(
        &mut self,
        first: usize,
        cmd: impl Fn(u64) -> ToWorker<'a>,
    ) -> bool {
        let mut all = true;
        for slot in first..first + self.caps.unit {
            let worker_id = self.board.slot(slot).worker_id();
            all &= self.hub.command(slot, &cmd(worker_id));
        }
        all
    }

    /// SIGHUP: reopens this process's log file, and has every worker process reopen its own
    /// (they write to it directly when the channel is full). `thread` workers share this
    /// process's, reopened already.
    pub(super) fn reopen_logs(&mut self) {
        match crate::logging::reopen() {
            Ok(true) => tracing::info!("log file reopened"),
            Ok(false) => {
                tracing::info!("reopen logs: the log output is not a file, nothing to reopen");
                return;
            }
            Err(e) => tracing::error!("cannot reopen the log file: {e}"),
        }
        if !self.caps.forks {
            return;
        }
        for first in self.pool().live_units() {
            if !self.command_unit(first, |worker_id| ToWorker::ReopenLogs { worker_id }) {
                tracing::warn!(
                    "worker {}: reopen-logs command not delivered (mailbox full or worker gone)",
                    self.board.slot(first).worker_id()
                );
            }
            self.mpm.notify(first);
        }
    }
}
