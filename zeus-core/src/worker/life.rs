//! A worker's whole life in whichever process or thread its MPM gave it: claim the slot's
//! ids, route the process's log lines to the scheduler (worker processes only), report
//! "started", serve, report "exiting" with the reason, leave the slot EXITED.

use std::net::TcpListener;

use super::{EndReason, Recycle, WorkerCtx};
use crate::event::Event;
use crate::ipc::{Inbox, Inboxes, ToHub};
use crate::scoreboard::WorkerState;
use zeus_ipc::Channel as _;

/// Everything a worker needs, shared by all workers of a service.
pub(crate) struct WorkerEnv {
    pub service_name: String,
    pub service: std::sync::Arc<dyn crate::service::Service>,
    pub board: std::sync::Arc<crate::scoreboard::Scoreboard>,
    pub listeners: std::sync::Arc<Vec<TcpListener>>,
    pub max_tasks: u64,
    pub max_memory: u64,
    pub plugins: crate::plugin::WorkerPlugins,
    /// Every slot's end of the scheduler channel.
    pub inboxes: std::sync::Arc<Inboxes>,
    /// The scheduler's pid: a worker in another process routes its log lines to it.
    pub scheduler_pid: u32,
}

/// In a worker process, sends this process's log lines to the scheduler through `inbox`'s
/// channel (set once per process: the first worker of a hybrid process sets it for all).
fn route_logs(env: &WorkerEnv, slot: usize) {
    if std::process::id() == env.scheduler_pid {
        return; // thread MPM: the scheduler process writes its lines itself
    }
    let inboxes = env.inboxes.clone();
    crate::logging::route(move |line| {
        if line.len() + crate::ipc::LOG_OVERHEAD > crate::ipc::MAX_MESSAGE {
            return false;
        }
        let mut msg = Vec::with_capacity(line.len() + crate::ipc::LOG_OVERHEAD);
        ToHub::Log(line).encode(&mut msg);
        inboxes
            .of(slot)
            .send(zeus_ipc::Mailbox::HUB, &msg, std::time::Duration::ZERO)
            .is_ok()
    });
}

/// A worker's whole life, in whichever process or thread the MPM gave it.
pub(crate) fn run(env: &WorkerEnv, start: crate::mpm::WorkerStart<'_>) -> i32 {
    let slot = env.board.slot(start.slot);
    let pid = std::process::id();
    let tid = nix::unistd::gettid().as_raw() as u32;
    slot.set_ids(pid, tid);
    let span = tracing::info_span!(parent: None, "worker", service = %env.service_name, id = slot.worker_id(), pid);
    let _entered = span.enter();
    route_logs(env, start.slot);
    let inbox = Inbox::new(&env.inboxes, start.slot, slot.worker_id());
    tracing::debug!("worker ready");
    // MPMs prepare the process before its first worker; this only answers again.
    if let Err(e) = env.plugins.start_process() {
        tracing::error!("worker refused to start: {e}");
        return 73; // still STARTED: the scheduler counts a crash at start and backs off
    }
    env.plugins.emit(Event::WorkerStart {
        worker_id: slot.worker_id(),
        slot: start.slot,
        pid,
        tid,
    });
    let recycle = Recycle {
        max_tasks: env.max_tasks,
        max_memory: env.max_memory,
        unit_tasks: start.unit_tasks,
    };
    inbox.report(&ToHub::Started {
        worker_id: slot.worker_id(),
        pid,
        tid,
    });
    let mut ctx = WorkerCtx::new(slot, &env.listeners, start.stop, recycle)
        .with_events(&env.plugins)
        .with_inbox(inbox)
        .with_board(&env.board);
    let result = env.service.serve(&mut ctx);
    let (code, why) = match (&result, ctx.end_reason()) {
        (Err(e), _) => {
            tracing::error!("service failed: {e}");
            (1, "service error")
        }
        (Ok(()), EndReason::Recycled) => (0, "max_process_tasks reached"),
        (Ok(()), EndReason::MemoryLimit) => (0, "max_process_memory reached"),
        (Ok(()), EndReason::StopRequested) => (0, "stop requested"),
        (Ok(()), EndReason::None) => (0, "service returned"),
    };
    let reason = match ctx.stop_reason() {
        Some(asked) => format!("{why} ({asked})"),
        None => why.to_owned(),
    };
    tracing::debug!(tasks = ctx.tasks_done(), "worker exiting: {reason}");
    let direct = crate::logging::direct_lines();
    if direct > 0 {
        // Process-wide (a hybrid process's threads share it); worth knowing when tuning.
        tracing::info!(
            "{direct} log lines of this process could not go through the channel (full, closed, refused, or too long) and were written directly"
        );
    }
    inbox.report(&ToHub::Exiting {
        worker_id: slot.worker_id(),
        code,
        reason: &reason,
    });
    slot.set_activity(why);
    slot.set_state(WorkerState::Exited);
    env.plugins.emit(Event::WorkerExit {
        worker_id: slot.worker_id(),
        tasks: ctx.tasks_done(),
        code,
        reason: why,
    });
    code
}
