//! The worker side: the context a `Service` runs in, whatever the MPM.
//!
//! A worker moves STARTED → WAITING ⇄ RUNNING → EXITED in its scoreboard slot. It ends when
//! the scheduler asks it to stop (between tasks, never in the middle of one) or when it has
//! done `max_process_tasks` tasks, so the scheduler can replace it with a fresh one.
//!
//! Through the scheduler channel ([`crate::ipc`]) a worker reports that it started and why it
//! exits, and (in a worker process) sends its log lines. It reads its mailbox only when its
//! MPM woke it (a stop request, or the "mail" doorbell), never per task.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::event::Event;
use crate::ipc::{Inbox, ToHub, ToWorker};
use crate::scoreboard::{Slot, WorkerState};

mod life;
mod wait;

pub(crate) use life::{run, WorkerEnv};
pub use wait::next_batch;

/// How a worker learns that it must stop; each MPM provides one.
pub trait StopSignal {
    /// Becomes readable when a stop is requested.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Consumes pending notifications; true when a stop was requested.
    fn requested(&mut self) -> bool;
    /// Whether [`requested`](Self::requested) consumed a "mail" doorbell since the last call
    /// (the scheduler sent a command to the worker's mailbox); clears it. MPMs without a
    /// doorbell never ring: their workers read their mailbox when asked to stop.
    fn take_mail(&mut self) -> bool {
        false
    }
}

/// A connection handed to a service.
#[derive(Debug)]
pub struct Conn {
    /// The accepted stream (blocking).
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// Index of the listener it arrived on.
    pub listener: usize,
}

/// Why a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Still running.
    None,
    /// The scheduler asked it to stop.
    StopRequested,
    /// It (or its unit) reached `max_process_tasks`.
    Recycled,
    /// Its process grew past `max_process_memory`.
    MemoryLimit,
}

/// When a worker recycles itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recycle<'a> {
    /// `max_process_tasks` (0 = never).
    pub max_tasks: u64,
    /// `max_process_memory` in bytes (0 = never), checked between tasks.
    pub max_memory: u64,
    /// Tasks of the whole unit, when its workers share the budget (hybrid MPM).
    pub unit_tasks: Option<&'a AtomicU64>,
}

/// What a service sees of the worker running it.
pub struct WorkerCtx<'a> {
    slot: Slot<'a>,
    listeners: &'a [TcpListener],
    stop: &'a mut dyn StopSignal,
    recycle: Recycle<'a>,
    tasks: u64,
    id: u64,
    end: EndReason,
    epoll: Option<Epoll>,
    events: Option<&'a crate::plugin::WorkerPlugins>,
    inbox: Option<Inbox<'a>>,
    /// Why the scheduler asked this worker to stop, when it said so through the channel.
    stop_why: Option<String>,
    board: Option<&'a crate::scoreboard::Scoreboard>,
}

/// Epoll token of the stop signal (listeners use their index).
const STOP_TOKEN: u64 = u64::MAX;

impl std::fmt::Debug for WorkerCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCtx")
            .field("id", &self.id)
            .field("tasks", &self.tasks)
            .finish()
    }
}

impl<'a> WorkerCtx<'a> {
    /// A context over a claimed slot.
    pub fn new(
        slot: Slot<'a>,
        listeners: &'a [TcpListener],
        stop: &'a mut dyn StopSignal,
        recycle: Recycle<'a>,
    ) -> Self {
        let id = slot.worker_id();
        Self {
            slot,
            listeners,
            stop,
            recycle,
            tasks: 0,
            id,
            end: EndReason::None,
            epoll: None,
            events: None,
            inbox: None,
            stop_why: None,
            board: None,
        }
    }

    /// This worker's number within its service.
    pub fn worker_id(&self) -> u64 {
        self.id
    }

    /// The service's listeners, in `Service::listeners` order.
    pub fn listeners(&self) -> &[TcpListener] {
        self.listeners
    }

    /// Why the worker is ending (after `accept` returned `None`).
    pub fn end_reason(&self) -> EndReason {
        self.end
    }

    /// Tasks done so far.
    pub fn tasks_done(&self) -> u64 {
        self.tasks
    }

    /// Whether the worker should end now (stop requested or task limit reached).
    pub fn should_stop(&mut self) -> bool {
        if self.end != EndReason::None {
            return true;
        }
        if self.recycle_due() {
            self.end = EndReason::Recycled;
            self.leave("max_process_tasks reached");
        } else if self.recycle.max_memory > 0
            && self.tasks > 0
            && rss_bytes() > self.recycle.max_memory
        {
            self.end = EndReason::MemoryLimit;
            self.leave("max_process_memory reached");
        } else {
            let stop = self.stop.requested();
            if stop || self.stop.take_mail() {
                self.read_mail();
            }
            if stop {
                self.end = EndReason::StopRequested;
            }
        }
        self.end != EndReason::None
    }

    /// Whether the task limit (`max_process_tasks`, of this worker or of its unit) is
    /// reached. Unlike `should_stop` it makes no syscall, so a service multiplexing many
    /// connections can ask after every task (to answer that task with `Connection: close`).
    pub fn recycle_due(&self) -> bool {
        let done = match self.recycle.unit_tasks {
            Some(unit) => unit.load(Ordering::Relaxed),
            None => self.tasks,
        };
        self.recycle.max_tasks > 0 && done >= self.recycle.max_tasks
    }

    /// The worker recycles itself: it says so in its slot (LEAVING, and TERMINATED unless a
    /// task runs) and to the scheduler, which starts its replacement while this one finishes
    /// the work in hand.
    fn leave(&self, why: &str) {
        if self.slot.leaving() {
            return;
        }
        self.slot.set_leaving();
        if self.slot.state() != WorkerState::Running {
            self.slot.set_state(WorkerState::Terminated);
        }
        if let Some(inbox) = self.inbox {
            inbox.report(&ToHub::Leaving {
                worker_id: self.id,
                reason: why,
            });
        }
    }

    /// Where the worker goes between tasks: WAITING, or TERMINATED once it is leaving.
    fn between_tasks(&self) -> WorkerState {
        if self.slot.leaving() {
            WorkerState::Terminated
        } else {
            WorkerState::Waiting
        }
    }

    /// Handles the commands waiting in this worker's mailbox.
    fn read_mail(&mut self) {
        let Some(inbox) = self.inbox else {
            return;
        };
        inbox.read(|cmd| match cmd {
            ToWorker::Stop { why, .. } => {
                self.stop_why = Some(why.to_owned());
                self.end = EndReason::StopRequested;
            }
            ToWorker::ReopenLogs { .. } => match crate::logging::reopen() {
                Ok(true) => tracing::info!("log file reopened"),
                Ok(false) => {}
                Err(e) => tracing::error!("cannot reopen the log file: {e}"),
            },
        });
    }

    /// Why the scheduler asked this worker to stop, if it said.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_why.as_deref()
    }

    /// Waits (WAITING) for a connection on any listener; `None` means the worker must end.
    pub fn accept(&mut self) -> io::Result<Option<Conn>> {
        loop {
            if self.should_stop() {
                return Ok(None);
            }
            self.idle();
            // A wake-up for a connection is taken even when a stop or the end of the task
            // budget came meanwhile: with EPOLLEXCLUSIVE the kernel woke only this worker, and
            // leaving the connection in the backlog would strand it until the next client
            // arrives. The worker serves it as its task in hand, then ends.
            let ready = self.wait()?;
            for i in ready {
                match self.listeners[i].accept() {
                    Ok((stream, peer)) => {
                        return Ok(Some(Conn {
                            stream,
                            peer,
                            listener: i,
                        }))
                    }
                    // Another worker took it first, or the client already went away.
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Waits for the listeners or the stop signal; returns the readable listener indexes.
    ///
    /// Each worker has its own epoll instance with the listeners registered `EPOLLEXCLUSIVE`,
    /// so a new connection wakes one idle worker, not all of them (no thundering herd).
    fn wait(&mut self) -> io::Result<Vec<usize>> {
        if self.epoll.is_none() {
            let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
            for (i, l) in self.listeners.iter().enumerate() {
                ep.add(
                    l,
                    EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
                )?;
            }
            ep.add(
                self.stop.fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, STOP_TOKEN),
            )?;
            self.epoll = Some(ep);
        }
        let ep = self.epoll.as_ref().expect("invariant: created above");
        let mut events = [EpollEvent::empty(); 8];
        let n = match ep.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        Ok(events[..n]
            .iter()
            .map(|e| e.data())
            .filter(|&d| d != STOP_TOKEN)
            .map(|d| d as usize)
            .collect())
    }

    /// Marks the worker WAITING (ready for work), unless it already is. `accept` does this
    /// itself; a service running its own event loop calls it when it starts waiting.
    /// Once leaving (see `should_stop`), the worker shows TERMINATED instead.
    pub fn idle(&mut self) {
        let state = self.between_tasks();
        if self.slot.state() != state {
            if state == WorkerState::Terminated {
                self.slot.set_activity("finishing its connections");
                self.slot.set_state(state);
                return;
            }
            self.slot.set_activity("waiting for a connection");
            self.slot.set_state(state);
            self.emit(Event::WorkerWaiting {
                worker_id: self.id,
                tasks: self.tasks,
            });
        }
    }

    /// Becomes readable when a stop is requested or mail waits, for a service that waits on
    /// its own epoll (many connections per worker) instead of `accept`; it then calls
    /// `should_stop`, which consumes the notification and reads the mail.
    pub fn stop_fd(&self) -> BorrowedFd<'_> {
        self.stop.fd()
    }

    /// A snapshot of this worker's service scoreboard (all its workers), for status pages.
    pub fn service_status(&self) -> Option<crate::scoreboard::ServiceStatus> {
        self.board.map(|b| b.snapshot())
    }

    /// Marks the worker RUNNING with a description; the task ends when the guard drops.
    pub fn task(&mut self, doing: &str) -> Task<'_, 'a> {
        self.slot.set_activity(doing);
        self.slot.set_state(WorkerState::Running);
        self.emit(Event::WorkerRunning {
            worker_id: self.id,
            tasks: self.tasks,
        });
        Task { ctx: self }
    }
}

impl<'a> WorkerCtx<'a> {
    /// Delivers this worker's events to the plugins of its process.
    pub(crate) fn with_events(mut self, events: &'a crate::plugin::WorkerPlugins) -> Self {
        self.events = Some(events);
        self
    }

    /// Gives `service_status` the service's scoreboard.
    pub(crate) fn with_board(mut self, board: &'a crate::scoreboard::Scoreboard) -> Self {
        self.board = Some(board);
        self
    }

    /// Reads commands from `inbox` when the MPM wakes this worker.
    pub(crate) fn with_inbox(mut self, inbox: Inbox<'a>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    fn emit(&self, e: Event) {
        if let Some(events) = self.events {
            events.emit(e);
        }
    }
}

/// Resident memory of this process, from `/proc/self/statm` (0 when unreadable).
pub fn rss_bytes() -> u64 {
    rss_of("self")
}

/// Resident memory of process `pid` ("self" for this one), from `/proc/PID/statm`.
pub fn rss_of(pid: &str) -> u64 {
    let Ok(statm) = std::fs::read_to_string(format!("/proc/{pid}/statm")) else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096);
    pages * page as u64
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
    )
}

/// A task in progress; dropping it counts the task and returns the worker to WAITING.
#[derive(Debug)]
pub struct Task<'c, 'a> {
    ctx: &'c mut WorkerCtx<'a>,
}

impl Drop for Task<'_, '_> {
    fn drop(&mut self) {
        self.ctx.tasks += 1;
        if let Some(unit) = self.ctx.recycle.unit_tasks {
            unit.fetch_add(1, Ordering::Relaxed);
        }
        self.ctx.slot.add_task();
        if self.ctx.recycle_due() {
            // Announced with the last task, not at the next `should_stop`: the worker is
            // never seen WAITING in between (where the scheduler would count it a spare).
            self.ctx.leave("max_process_tasks reached");
        }
        self.ctx.slot.set_activity("idle");
        self.ctx.slot.set_state(self.ctx.between_tasks());
        self.ctx.emit(Event::WorkerWaiting {
            worker_id: self.ctx.id,
            tasks: self.ctx.tasks,
        });
    }
}
