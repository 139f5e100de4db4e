//! The `memcache` service: each worker multiplexes many client connections with epoll
//! (memcached clients keep their connections open, so one connection per worker would cap
//! clients at the number of workers).
//!
//! ```text
//! no connection ──ctx.accept() (WAITING, stop-aware)──▶ epoll loop over listeners + clients
//!      ▲                                                  │ each request: ctx.task()
//!      └──────────────── last client gone ◀───────────────┘ stop checked every STOP_POLL
//! ```
//!
//! Listeners are registered with `EPOLLEXCLUSIVE`, so a new client wakes one busy worker, not all.
//!
//! Within one epoll batch the worker first reads and answers every ready connection, then
//! writes the replies (a connection whose read drained its socket; others write at once). On
//! the shared 2-vCPU machine this cut the saturated p99 under `mc-load` from 1.6-2.7 ms to
//! 1.2-1.8 ms (medians of four A/B runs, `benches/README.md`), at the cost of a higher p50.
//! After a batch that answered clients the worker yields its CPU once and polls before it
//! sleeps ([`zeus_core::worker::next_batch`]): the saturated p99 fell about twofold again,
//! on every MPM.
//! `max_connections` and the statistics are counted in the shared store, over all workers.

mod conn;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use zeus_core::service::{ListenSpec, Service, Settings};
use zeus_core::worker::{next_batch, WorkerCtx};

use crate::error::MemcacheError;
use crate::protocol::{Ctx, ServerInfo};
use crate::settings::{validate, MemcacheSettings};
use crate::store::{ConnSlot, Stat, Store};
use conn::{Batch, Conn, Want};

/// How often a worker with clients checks for a stop request.
const STOP_POLL: Duration = Duration::from_millis(200);
/// Epoll token of the worker's stop fd (client tokens are small indexes).
const STOP_TOKEN: u64 = u64::MAX;

/// The memcached-protocol service.
#[derive(Debug)]
pub struct MemcacheService {
    settings: MemcacheSettings,
    port_key: String,
    idle: Option<Duration>,
    info: ServerInfo,
    store: Arc<Store>,
}

impl MemcacheService {
    /// Validates the settings and creates the shared store (before any worker is forked).
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, zeus_core::config::ConfigErrors> {
        let v = validate(s)?;
        let store = Store::new(&v.store).map_err(|e| {
            let key = match e {
                crate::StoreError::Directory(..) => "directory",
                _ => "memory_limit",
            };
            zeus_core::config::ConfigErrors(vec![
                s.error(key, format!("cannot create the store: {e}"))
            ])
        })?;
        Ok(Self {
            info: ServerInfo {
                max_connections: u64::from(v.settings.max_connections),
                memory_limit: v.settings.memory_limit,
                item_size_max: v.settings.item_size_max,
                evictions: v.settings.evictions,
                idle_timeout: v.idle.map_or(0, |d| d.as_secs()),
            },
            port_key: s.key("listen_port"),
            idle: v.idle,
            settings: v.settings,
            store: Arc::new(store),
        })
    }

    /// The shared store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Service for MemcacheService {
    fn listeners(&self) -> Vec<ListenSpec> {
        vec![ListenSpec {
            addr: SocketAddr::new(self.settings.listen_address, self.settings.listen_port),
            key: self.port_key.clone(),
        }]
    }

    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        let listeners = ctx
            .listeners()
            .iter()
            .map(TcpListener::try_clone)
            .collect::<io::Result<Vec<_>>>()?;
        let mut w = Worker::new(self, listeners)?;
        let result = w.run(ctx);
        w.close_all();
        result
    }
}

/// One worker's connections.
struct Worker<'s> {
    svc: &'s MemcacheService,
    epoll: Epoll,
    listeners: Vec<TcpListener>,
    /// This worker's count of open connections in the shared table.
    slot: ConnSlot<'s>,
    conns: Vec<Option<(Conn, Want)>>,
    free: Vec<usize>,
    open: usize,
    /// Connections whose replies wait for the end of the epoll batch.
    deferred: Vec<usize>,
}

impl<'s> Worker<'s> {
    fn new(svc: &'s MemcacheService, listeners: Vec<TcpListener>) -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        for (i, l) in listeners.iter().enumerate() {
            epoll.add(
                l.as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
            )?;
        }
        Ok(Self {
            svc,
            epoll,
            listeners,
            slot: svc.store.connections().claim(),
            conns: Vec::new(),
            free: Vec::new(),
            open: 0,
            deferred: Vec::new(),
        })
    }

    fn run(&mut self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); 256];
        let mut last_sweep = Instant::now();
        let mut last_stop_check = Instant::now();
        // The last batch answered clients: yield before the next wait (`wait`).
        let mut served = false;
        self.epoll.add(
            ctx.stop_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, STOP_TOKEN),
        )?;
        loop {
            if self.open == 0 {
                // Nothing to multiplex: wait like any zeus worker (WAITING, woken by a stop).
                match ctx.accept()? {
                    Some(c) => self.admit(c.stream, c.peer),
                    None => return Ok(()),
                }
                self.rotate();
                continue;
            }
            let ms = STOP_POLL.as_millis() as u16;
            let n = match next_batch(&self.epoll, &mut events, served, EpollTimeout::from(ms)) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(e.into()),
            };
            served = false;
            let mut batch = Batch::new();
            // The stop fd is in this epoll: ask (a syscall or more) only when it fired, or
            // every STOP_POLL for the other reasons to end (task or memory limits).
            let stop_fired = events[..n].iter().any(|e| e.data() == STOP_TOKEN);
            if stop_fired || batch.now.duration_since(last_stop_check) >= STOP_POLL {
                if ctx.should_stop() {
                    return Ok(());
                }
                last_stop_check = batch.now;
            }
            let mut cx = Ctx {
                store: &self.svc.store,
                now: crate::store::now(),
                info: &self.svc.info,
                batch_start: 0,
                out_limit: conn::OUT_HIGH,
                resume: 0,
            };
            let mut deferred = std::mem::take(&mut self.deferred);
            for ev in events[..n].iter().filter(|e| e.data() != STOP_TOKEN) {
                let token = ev.data() as usize;
                if token < self.listeners.len() {
                    self.accept_from(token);
                    self.rotate();
                } else {
                    let idx = token - self.listeners.len();
                    served = true;
                    if self.drive(idx, &mut cx, ctx, &mut batch) {
                        deferred.push(idx);
                    }
                }
            }
            for &idx in &deferred {
                self.finish(idx, &mut batch);
            }
            deferred.clear();
            self.deferred = deferred;
            batch.count(&self.svc.store);
            if batch.now.duration_since(last_sweep) >= Duration::from_secs(1) {
                last_sweep = batch.now;
                self.sweep_idle();
            }
        }
    }

    /// Moves this worker to the back of each listener's queue of exclusive waiters. The
    /// kernel wakes the first waiting epoll on `EPOLLEXCLUSIVE`, so without this the worker
    /// that took one client would take them all; a client keeps its worker for its whole
    /// connection, so placement is the load balance. Two syscalls per accept, none per request.
    fn rotate(&self) {
        for (i, l) in self.listeners.iter().enumerate() {
            let ev = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64);
            if self.epoll.delete(l.as_fd()).is_ok() {
                let _ = self.epoll.add(l.as_fd(), ev);
            }
        }
    }

    /// Takes one waiting client, not the whole backlog: after a burst of connects each
    /// worker then takes one per wake-up (the listener stays readable for all of them), so
    /// the clients spread over the workers as memcached's dispatcher spreads them.
    fn accept_from(&mut self, i: usize) {
        for _ in 0..4 {
            match self.listeners[i].accept() {
                Ok((s, peer)) => return self.admit(s, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE and friends: leave the client in the backlog for another worker.
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let store = &self.svc.store;
        if !self.slot.admit(self.svc.info.max_connections) {
            store.count(Stat::RejectedConnections, 1);
            let _ = stream.set_nonblocking(true);
            let _ = stream.write(MemcacheError::TooManyConnections.to_response());
            return;
        }
        store.count(Stat::TotalConnections, 1);
        let conn = match Conn::new(stream, peer) {
            Ok(c) => c,
            Err(e) => {
                self.slot.close();
                tracing::debug!(%peer, "cannot set up connection: {e}");
                return;
            }
        };
        let idx = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let token = (self.listeners.len() + idx) as u64;
        if let Err(e) = self.epoll.add(
            conn.stream.as_fd(),
            EpollEvent::new(EpollFlags::EPOLLIN, token),
        ) {
            self.slot.close();
            self.free.push(idx);
            tracing::warn!(%peer, "cannot watch connection: {e}");
            return;
        }
        self.conns[idx] = Some((conn, Want::Read));
        self.open += 1;
    }

    /// Serves a ready connection; `true` when its replies wait for [`Self::finish`].
    fn drive(
        &mut self,
        idx: usize,
        cx: &mut Ctx<'_>,
        ctx: &mut WorkerCtx<'_>,
        batch: &mut Batch,
    ) -> bool {
        let Some(Some((conn, _))) = self.conns.get_mut(idx) else {
            return false;
        };
        let mut task = || drop(ctx.task("memcache request"));
        let next = conn.drive(cx, &mut task, batch);
        if next == Want::Flush {
            return true;
        }
        self.settle(idx, next);
        false
    }

    /// Writes the replies deferred to the end of the batch.
    fn finish(&mut self, idx: usize, batch: &mut Batch) {
        let Some(Some((conn, _))) = self.conns.get_mut(idx) else {
            return;
        };
        let next = conn.finish(batch);
        self.settle(idx, next);
    }

    /// Watches the connection for what it wants next.
    fn settle(&mut self, idx: usize, next: Want) {
        let Some(Some((conn, want))) = self.conns.get_mut(idx) else {
            return;
        };
        if next == Want::Close {
            self.close(idx);
            return;
        }
        if next != *want {
            let flags = match next {
                Want::Write => EpollFlags::EPOLLOUT,
                _ => EpollFlags::EPOLLIN,
            };
            let token = (self.listeners.len() + idx) as u64;
            let mut ev = EpollEvent::new(flags, token);
            if self.epoll.modify(conn.stream.as_fd(), &mut ev).is_err() {
                self.close(idx);
                return;
            }
            *want = next;
        }
    }

    fn close(&mut self, idx: usize) {
        if let Some((conn, _)) = self.conns[idx].take() {
            tracing::trace!(peer = %conn.peer, "connection closed");
            let _ = self.epoll.delete(conn.stream.as_fd());
            self.slot.close();
            self.free.push(idx);
            self.open -= 1;
        }
    }

    fn sweep_idle(&mut self) {
        let Some(idle) = self.svc.idle else { return };
        for idx in 0..self.conns.len() {
            let stale = self.conns[idx]
                .as_ref()
                .is_some_and(|(c, _)| c.last_active.elapsed() > idle);
            if stale {
                self.close(idx);
            }
        }
    }

    fn close_all(&mut self) {
        for idx in 0..self.conns.len() {
            self.close(idx);
        }
    }
}
