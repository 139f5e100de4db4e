//! `HttpService`: the `Service` impl, one event loop per worker.
//!
//! ```text
//!   worker (process or thread)
//!   └─ epoll ── listeners (EPOLLEXCLUSIVE: one idle worker woken per connection burst)
//!            ├─ stop fd   (the scheduler asks this worker to end)
//!            └─ conns     (many per worker; each a `Conn` state machine with a deadline)
//! ```
//!
//! Why: a worker that owned one connection at a time (echo's model) would be pinned by every
//! idle keep-alive client, so 8 workers would serve 8 clients. Here a worker holds up to
//! `max_connections_per_worker` connections and only does work when one is ready, like an
//! nginx worker; the prefork pool still gives isolation, recycling and the scoreboard.
//! Each request is one task (`ctx.task`): RUNNING while it is handled, counted when done.
//! A worker asked to stop (or recycled) stops accepting, answers the requests in flight and
//! the next request of each idle connection (within `DRAIN_GRACE`) with `Connection:
//! close`, closes the connections still idle after that, and ends when none is left.

use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use zeus_core::service::{ListenSpec, Service};
use zeus_core::worker::{next_batch, WorkerCtx};

use crate::access_log::{request_line, AccessLogger, Entry};
use crate::conn::{Conn, Exchange, Next};
use crate::handler::{Route, Router};
use crate::request::Request;
use crate::response::Response;
use crate::settings::HttpConfig;
use crate::status_page;

const STOP: u64 = u64::MAX;
const CONN_BASE: u64 = 1 << 32;
/// Connections accepted per listener wake-up.
const ACCEPT_BATCH: usize = 1;
/// How long a draining worker keeps an idle keep-alive connection for one last request.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How often a worker asks whether it must stop when no stop signal fired.
const STOP_POLL: Duration = Duration::from_millis(100);

/// The HTTP service.
pub struct HttpService {
    cfg: HttpConfig,
    router: Router,
    /// The registered logger `logger_adapter` names, if not a built-in one.
    custom_logger: Option<Arc<dyn AccessLogger>>,
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("cfg", &self.cfg)
            .field("router", &self.router)
            .finish()
    }
}

impl HttpService {
    /// A service from a validated configuration and its router.
    pub fn new(cfg: HttpConfig, router: Router) -> Self {
        Self {
            cfg,
            router,
            custom_logger: None,
        }
    }

    /// Uses `logger` for `logger_adapter` when it is not built in.
    pub fn with_logger(mut self, logger: Option<Arc<dyn AccessLogger>>) -> Self {
        self.custom_logger = logger;
        self
    }
}

impl Service for HttpService {
    fn listeners(&self) -> Vec<ListenSpec> {
        let s = &self.cfg.settings;
        vec![ListenSpec {
            addr: SocketAddr::new(s.listen_address, s.listen_port),
            key: self.cfg.port_key.clone(),
        }]
    }

    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        let st = &self.cfg.settings;
        let log = crate::access_log::open(
            &st.logger_adapter,
            &st.access_log,
            self.custom_logger.as_ref(),
        )?;
        // Accepted sockets inherit TCP_NODELAY from their listener: set once, not per accept.
        for l in ctx.listeners() {
            nix::sys::socket::setsockopt(l, nix::sys::socket::sockopt::TcpNoDelay, &true)?;
        }
        let mut lp = Loop {
            svc: self,
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            conns: Vec::new(),
            free: Vec::new(),
            accepting: false,
            draining: false,
            stop_fired: false,
            next_sweep: Instant::now() + Duration::from_secs(1),
            now: Instant::now(),
            log,
            label: String::new(),
            keepers: true,
        };
        lp.epoll
            .add(ctx.stop_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STOP))?;
        lp.run(ctx)
    }
}

struct Slot {
    conn: Conn,
    /// What the epoll entry waits for; `None` before the connection is in the set.
    want: Option<Next>,
    /// Answered a request and stayed open (the worker stepped out of the accept queues).
    kept: bool,
}

struct Loop<'s> {
    svc: &'s HttpService,
    epoll: Epoll,
    conns: Vec<Option<Slot>>,
    free: Vec<usize>,
    accepting: bool,
    draining: bool,
    /// The stop fd fired since the last `should_stop`.
    stop_fired: bool,
    /// The earliest connection deadline (or a second from the last sweep).
    next_sweep: Instant,
    /// The clock read after the last `epoll_wait`: the connections handled in that round
    /// count their new deadlines from it (a clock read per round, not several per request).
    now: Instant,
    log: Option<Arc<dyn AccessLogger>>,
    /// The scoreboard label of the request being handled, reused (no allocation per request).
    label: String,
    /// The last client that got an answer stayed connected (it may send more requests).
    keepers: bool,
}

impl Loop<'_> {
    fn run(&mut self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); 256];
        // `should_stop` costs a syscall (it consumes the stop signal): ask it when the stop fd
        // fires, when the task limit is reached (`recycle_due`, no syscall), and otherwise
        // every STOP_POLL (the memory limit, read from /proc).
        let mut stop_check = Instant::now();
        let mut busy = false;
        loop {
            let now = Instant::now();
            if !self.draining && (self.stop_fired || ctx.recycle_due() || now >= stop_check) {
                self.stop_fired = false;
                stop_check = now + STOP_POLL;
                if ctx.should_stop() {
                    self.start_draining(ctx)?;
                }
            }
            if self.draining && self.open() == 0 {
                return Ok(());
            }
            self.set_accepting(ctx, !self.draining && self.open() < self.max_conns())?;
            ctx.idle();
            let until = self.next_sweep.min(stop_check);
            let wait = until
                .saturating_duration_since(now)
                .min(Duration::from_secs(1));
            let ms = u16::try_from(wait.as_millis()).unwrap_or(1000).max(1);
            let n = self.wait(&mut events, busy, EpollTimeout::from(ms))?;
            self.now = Instant::now();
            busy = false;
            for ev in &events[..n] {
                match ev.data() {
                    STOP => self.stop_fired = true,
                    d if d < CONN_BASE => self.accept(ctx, d as usize)?,
                    d => {
                        busy = true;
                        self.drive((d - CONN_BASE) as usize, ctx)?
                    }
                }
            }
            if self.now >= self.next_sweep {
                self.sweep();
            }
        }
    }

    /// Waits for events: after a round that served connections in the epoll set (`busy`:
    /// kept-alive clients), yields and polls before sleeping ([`next_batch`]). Rounds of
    /// accepts alone do not count. An interrupted wait is a round without events.
    fn wait(
        &self,
        events: &mut [EpollEvent],
        busy: bool,
        timeout: EpollTimeout,
    ) -> io::Result<usize> {
        match next_batch(&self.epoll, events, busy, timeout) {
            Ok(n) => Ok(n),
            Err(nix::errno::Errno::EINTR) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn max_conns(&self) -> usize {
        self.svc.cfg.settings.max_connections_per_worker
    }

    fn open(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Listeners are in this worker's epoll only while it accepts (EPOLLEXCLUSIVE entries
    /// cannot be modified, only removed and added again).
    fn set_accepting(&mut self, ctx: &WorkerCtx<'_>, on: bool) -> io::Result<()> {
        if on == self.accepting {
            return Ok(());
        }
        for (i, l) in ctx.listeners().iter().enumerate() {
            if on {
                let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
                self.epoll.add(l, EpollEvent::new(flags, i as u64))?;
            } else {
                self.epoll.delete(l)?;
            }
        }
        self.accepting = on;
        Ok(())
    }

    fn start_draining(&mut self, ctx: &WorkerCtx<'_>) -> io::Result<()> {
        self.draining = true;
        self.set_accepting(ctx, false)?;
        // A thread MPM's stop fd stays readable: level-triggered, it would wake us in a loop.
        self.epoll.delete(ctx.stop_fd())?;
        // Busy connections answer their request with `Connection: close` (see `drive`). Idle
        // ones get DRAIN_GRACE to send one more request, answered the same way: closing them
        // at once races with a client that is sending its next request on them, which then
        // sees a reset or an early EOF (wrk counted hundreds of read errors per recycle).
        let until = Instant::now() + DRAIN_GRACE;
        for slot in self.conns.iter_mut().flatten() {
            if slot.conn.is_idle() {
                slot.conn.deadline = slot.conn.deadline.min(until);
            }
        }
        self.next_sweep = self.next_sweep.min(until);
        Ok(())
    }

    fn accept(&mut self, ctx: &mut WorkerCtx<'_>, listener: usize) -> io::Result<()> {
        // Few at a time (nginx: multi_accept off): the listener is level-triggered, so what
        // is left wakes a worker again, maybe another one. Taking a whole burst here would
        // put every connection of a load test on one worker, and so on one core.
        for _ in 0..ACCEPT_BATCH {
            if self.open() >= self.max_conns() {
                break;
            }
            let Some(l) = ctx.listeners().get(listener) else {
                return Ok(());
            };
            let accepted = l.accept();
            match accepted {
                Ok((stream, peer)) => {
                    let conn = match Conn::new(stream, peer, &self.svc.cfg.timeouts, self.now) {
                        Ok(c) => c,
                        Err(_) => continue,
                    };
                    let i = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    self.conns[i] = Some(Slot {
                        conn,
                        want: None,
                        kept: false,
                    });
                    // The client usually sent its request right after connecting: serve it
                    // now, before any epoll round trip. A `Connection: close` exchange then
                    // never enters the epoll set; if nothing came yet, one read said so.
                    self.drive(i, ctx)?;
                    // Still open and the last clients stayed: likely a kept-alive one, step
                    // out at once (see `drive`), so that a burst of connects spreads too.
                    let kept = self.conns[i].as_ref().is_some_and(|s| !s.kept);
                    if kept && self.keepers && self.accepting {
                        self.set_accepting(ctx, false)?;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn drive(&mut self, i: usize, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        let Some(slot) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return Ok(());
        };
        let svc = self.svc;
        let mut x = Worker {
            svc,
            ctx,
            log: self.log.as_deref(),
            label: &mut self.label,
        };
        let next = slot.conn.drive(
            &svc.cfg.limits,
            &svc.cfg.timeouts,
            self.now,
            self.draining,
            &mut x,
        );
        if next == Next::Close {
            self.close(i);
            return Ok(());
        }
        self.next_sweep = self.next_sweep.min(slot.conn.deadline);
        if !slot.kept && slot.conn.has_served() {
            // Answered its first request and stays open: a kept-alive client. Step out of the
            // listeners' queues until this round of events is handled, and come back at the
            // back of them (`run` calls `set_accepting` before waiting). The kernel gives an
            // `EPOLLEXCLUSIVE` event to the first epoll in a queue whether or not it waits,
            // so a worker that stayed registered took most clients of a burst (64 of 64 wrk
            // connections on one worker); connects arriving meanwhile now wake another
            // worker. Two syscalls per kept-alive connection, once; none for a `Connection:
            // close` exchange (as zeus-memcache's `rotate`, which does it on every accept).
            slot.kept = true;
            self.keepers = true;
            if self.accepting && !self.draining {
                self.set_accepting(ctx, false)?;
            }
        }
        let Some(slot) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return Ok(());
        };
        if slot.want != Some(next) {
            let flags = match next {
                Next::Write => EpollFlags::EPOLLOUT,
                _ => EpollFlags::EPOLLIN,
            };
            let mut ev = EpollEvent::new(flags, CONN_BASE + i as u64);
            let r = match slot.want {
                None => self.epoll.add(slot.conn.stream(), ev),
                Some(_) => self.epoll.modify(slot.conn.stream(), &mut ev),
            };
            if r.is_err() {
                // Out of epoll resources for this one: drop it, keep the worker.
                self.close(i);
                return Ok(());
            }
            slot.want = Some(next);
        }
        Ok(())
    }

    fn close(&mut self, i: usize) {
        // Closing the socket also removes it from the epoll set (it has no other fd copy),
        // so no EPOLL_CTL_DEL: one syscall less per connection.
        if let Some(slot) = self.conns[i].take() {
            if !slot.kept && slot.conn.has_served() {
                // Closed after one exchange (`Connection: close`): stepping out of the
                // accept queues for each new connection would cost two syscalls per request.
                self.keepers = false;
            }
            self.free.push(i);
        }
    }

    /// Closes connections past their deadline and finds the next deadline.
    fn sweep(&mut self) {
        let now = Instant::now();
        let mut next = now + Duration::from_secs(1);
        for i in 0..self.conns.len() {
            match self.conns[i].as_ref().map(|s| s.conn.deadline) {
                Some(d) if d <= now => self.close(i),
                Some(d) => next = next.min(d),
                None => {}
            }
        }
        self.next_sweep = next;
    }
}

/// A worker's side of its connections' exchanges.
struct Worker<'a, 'w, 's> {
    svc: &'s HttpService,
    ctx: &'a mut WorkerCtx<'w>,
    log: Option<&'a dyn AccessLogger>,
    label: &'a mut String,
}

impl Exchange for Worker<'_, '_, '_> {
    /// One request: routed, counted as a task, logged.
    fn answer(&mut self, req: &Request) -> (Response, bool) {
        let (svc, ctx) = (self.svc, &mut *self.ctx);
        let route = svc.router.route(&req.path);
        // Taken before the task starts: the task guard holds the context.
        let status = match route {
            Route::Status => ctx.service_status(),
            Route::Handler(_) => None,
        };
        let resp = {
            self.label.clear();
            self.label.push_str(&req.method);
            self.label.push(' ');
            self.label.push_str(truncate(&req.path, 80));
            let _task = ctx.task(self.label);
            match route {
                Route::Status => status_page::respond(req, status.as_ref()),
                Route::Handler(h) => catch_unwind(AssertUnwindSafe(|| h.handle(req)))
                    .unwrap_or_else(|_| {
                        tracing::error!(path = %req.path, "handler panicked");
                        Response::text(500, "internal server error\n")
                    }),
            }
        };
        if let Some(log) = self.log {
            let bytes = if req.method == "HEAD" {
                0
            } else {
                resp.body.len().unwrap_or(0) // a stream's size is not known here
            };
            let line = request_line(req);
            log.log(&Entry::of(req, &line, resp.status, bytes));
        }
        // The task that reaches max_process_tasks is answered with `Connection: close`: the
        // worker is about to drain, and a client must not send more on this connection.
        (resp, !ctx.recycle_due())
    }

    fn refused(&mut self, peer: SocketAddr, line: &[u8], status: u16, bytes: u64) {
        let Some(log) = self.log else {
            return;
        };
        log.log(&Entry {
            peer: peer.ip(),
            request: line,
            status,
            bytes,
            referer: None,
            agent: None,
            time: std::time::SystemTime::now(),
        });
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
