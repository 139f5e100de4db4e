//! The scheduler's side of its worker channel: created before any worker (one mailbox per
//! scoreboard slot), drained every loop, and used for commands to a unit's workers.
//!
//! The channel exposes no descriptor to `poll` on (the `mmap` and `sysv` adapters have none),
//! so the scheduler's wait is capped at [`POLL`]: a worker's line or report is written at
//! most that late, and before its exit is handled (the loop drains before it reaps).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use zeus_ipc::IpcAdapter;

use super::Scheduler;
use crate::config::SchedulerConfig;
use crate::error::CoreError;
use crate::ipc::{channel_name, Hub, Inboxes, ToHub, ToWorker};

/// Longest the scheduler sleeps without looking at its mailbox.
pub(super) const POLL: Duration = Duration::from_millis(20);

/// Creates the channel named after the instance, the service and this scheduler's pid, with
/// a mailbox and an endpoint for every slot; `auto` is resolved here.
pub(super) fn create(
    service: &str,
    instance: &str,
    run_dir: &Path,
    cfg: &SchedulerConfig,
) -> Result<(Hub, Arc<Inboxes>), CoreError> {
    let adapter: IpcAdapter = cfg
        .ipc_adapter
        .parse()
        .map_err(|e: zeus_ipc::UnknownAdapter| CoreError::Control(e.to_string()))?;
    let name = channel_name(instance, service, std::process::id())?;
    let created = Hub::create(adapter, name, run_dir, cfg.max_processes as usize)?;
    let drops = cfg
        .plugins
        .iter()
        .any(|p| p.name() == Some("drop_privileges"));
    if drops && created.0.adapter() == IpcAdapter::Sysv && cfg.multiprocessing_module != "thread" {
        tracing::warn!(
            "ipc_adapter sysv with drop_privileges: the kernel checks the queues' permissions \
             at every call, so workers that dropped privileges cannot use the channel (their \
             lines are written directly, stop goes by signal only); prefer mmap, fifo or socket"
        );
    }
    Ok(created)
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
