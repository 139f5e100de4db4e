//! One client connection inside a worker's event loop: bytes in → requests (in order) →
//! responses queued → bytes out (see `output`).
//!
//! Invariants:
//! - responses leave in request order: a request is handled only when the previous response
//!   has no deferred body left and little output waits (`Output::accepts_more`), so a pipelining client
//!   is slowed down, never answered out of order, and cannot grow our memory;
//! - every phase has a deadline (`Phase`); a connection past it is closed by the loop, so a
//!   slow or idle client costs a file descriptor and a few bytes, never a worker;
//! - a protocol error queues its reply and closes the connection after it (the framing of
//!   what follows cannot be trusted).

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::body::decode_chunked;
use crate::error::HttpError;
use crate::output::Output;
use crate::request::{parse_head_reusing, Framing, Head, Limits, Request};
use crate::response::Response;
use crate::settings::Timeouts;

/// Read at most this much per readiness event before giving other connections a turn.
const READ_BUDGET: usize = 256 * 1024;

thread_local! {
    /// Where reads land before they join a connection's buffer: one per worker thread,
    /// zeroed once, not on every read.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; 16 * 1024].into_boxed_slice());
}

/// Where a connection is, which decides its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests (keep-alive), nothing received: `keepalive_timeout`.
    Idle,
    /// A head is arriving: `header_timeout` for the whole head (not per byte: slowloris).
    Head,
    /// A body is arriving: `body_timeout` without progress.
    Body,
    /// Output waits for the client: `send_timeout` without progress.
    Writing,
}

/// What the loop should do with a connection after driving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait until it is readable.
    Read,
    /// Wait until it is writable.
    Write,
    /// Close it.
    Close,
}

/// What a connection asks of its worker.
pub trait Exchange {
    /// Answers one request; also says whether the connection may persist after it.
    fn answer(&mut self, req: &Request) -> (Response, bool);

    /// A protocol error was answered with `status` (`bytes` of body) before any handler saw
    /// the request; `line` is the request line as received, or empty.
    fn refused(&mut self, peer: SocketAddr, line: &[u8], status: u16, bytes: u64);
}

/// The longest request line a refusal reports (a 414's line is long by definition).
const MAX_LOGGED_LINE: usize = 1024;

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    out: Output,
    pending: Option<Head>,
    /// The last answered request, whose strings the next head is parsed into.
    spare: Option<Request>,
    sent_continue: bool,
    close_after: bool,
    /// A protocol error was answered: unread request bytes may remain (see `linger`).
    refused: bool,
    eof: bool,
    /// No request head has arrived yet: while nothing is buffered the connection waits for
    /// its first head (`header_timeout`), not idle between requests (`keepalive_timeout`).
    fresh: bool,
    phase: Phase,
    /// When the current phase times out.
    pub deadline: Instant,
}

impl Conn {
    /// A new connection; its first head must arrive within `header_timeout` of `now`.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        t: &Timeouts,
        now: Instant,
    ) -> io::Result<Self> {
        // TCP_NODELAY comes from the listener (Linux copies it to accepted sockets).
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            peer,
            inbuf: Vec::new(),
            out: Output::default(),
            pending: None,
            spare: None,
            sent_continue: false,
            close_after: false,
            refused: false,
            eof: false,
            fresh: true,
            phase: Phase::Head,
            deadline: now + t.header,
        })
    }

    /// The socket, for epoll.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Idle between requests, with nothing in flight (safe to close when stopping).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle && self.inbuf.is_empty() && !self.has_output()
    }

    /// Whether a request head has arrived on this connection.
    pub fn has_served(&self) -> bool {
        !self.fresh
    }

    /// The phase with nothing buffered and nothing to send.
    fn at_rest(&self) -> Phase {
        if self.fresh {
            Phase::Head
        } else {
            Phase::Idle
        }
    }

    fn has_output(&self) -> bool {
        self.out.pending()
    }

    /// Reads, handles every complete request, writes; `x` answers requests and hears of
    /// refusals. New deadlines count from `now`, the caller's clock read for its round of
    /// events (as nginx's cached time): one read per round, not three per request.
    pub fn drive(
        &mut self,
        lim: &Limits,
        t: &Timeouts,
        now: Instant,
        draining: bool,
        x: &mut dyn Exchange,
    ) -> Next {
        if !self.has_output() && !self.eof {
            match self.read_in(lim) {
                Ok(progress) if progress && self.phase == Phase::Body => {
                    self.deadline = now + t.body;
                }
                Ok(_) => {}
                Err(_) => return Next::Close,
            }
        }
        loop {
            self.process(lim, t, now, draining, x);
            match self.flush(t, now) {
                Ok(true) => {}
                Ok(false) => return Next::Write,
                Err(_) => return Next::Close,
            }
            if self.close_after {
                if self.refused {
                    self.linger();
                }
                return Next::Close;
            }
            // All written; pipelined requests held back by the output limit may be waiting.
            let more =
                self.pending.is_none() && !self.inbuf.is_empty() && self.phase == Phase::Writing;
            if !more {
                break;
            }
        }
        if self.pending.is_none() && self.inbuf.is_empty() {
            self.enter(self.at_rest(), t, now);
        }
        if self.eof || (draining && self.is_idle()) {
            return Next::Close;
        }
        Next::Read
    }

    /// Before closing on our side: stop sending and discard what the client already sent, so
    /// the kernel does not answer unread bytes with a reset that could destroy our last
    /// response before the client reads it (a short form of nginx's lingering close).
    fn linger(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        let mut buf = [0u8; 16 * 1024];
        for _ in 0..16 {
            match (&self.stream).read(&mut buf) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// Reads what the socket has (up to the budget); true if any byte arrived.
    fn read_in(&mut self, lim: &Limits) -> io::Result<bool> {
        let cap = read_cap(lim);
        SCRATCH.with_borrow_mut(|buf| self.read_with(buf, cap))
    }

    fn read_with(&mut self, buf: &mut [u8], cap: usize) -> io::Result<bool> {
        let mut got = 0;
        while got < READ_BUDGET && self.inbuf.len() < cap {
            match (&self.stream).read(buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    got += n;
                    if n < buf.len() {
                        break; // drained: save the read that would say EAGAIN (level-triggered)
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(got > 0)
    }

    /// Turns buffered bytes into queued responses, in order, while output is small.
    fn process(
        &mut self,
        lim: &Limits,
        t: &Timeouts,
        now: Instant,
        draining: bool,
        x: &mut dyn Exchange,
    ) {
        while !self.close_after && self.out.accepts_more() {
            let head = match self.pending.take() {
                Some(h) => h,
                None => {
                    if self.inbuf.is_empty() {
                        self.enter(
                            if self.has_output() {
                                Phase::Writing
                            } else {
                                self.at_rest()
                            },
                            t,
                            now,
                        );
                        return;
                    }
                    match parse_head_reusing(&self.inbuf, self.peer, lim, &mut self.spare) {
                        Ok(Some(h)) => {
                            self.inbuf.drain(..h.len);
                            self.sent_continue = false;
                            self.fresh = false;
                            h
                        }
                        Ok(None) => {
                            self.enter(Phase::Head, t, now);
                            return;
                        }
                        Err(e) => {
                            let line = first_line(&self.inbuf).to_vec();
                            return self.fail(&e, &line, x);
                        }
                    }
                }
            };
            let Some((head, body)) = self.take_body(head, lim, t, now, x) else {
                return;
            };
            let mut req = head.request;
            req.body = body;
            let (resp, may_keep) = x.answer(&req);
            let keep = head.keep_alive && may_keep && !draining;
            self.queue(resp, req.method == "HEAD", keep, req.minor_version == 0);
            self.enter(Phase::Writing, t, now);
            req.recycle();
            self.spare = Some(req);
        }
    }

    /// The body of `head` if complete; otherwise keeps `head` pending (and may send 100).
    fn take_body(
        &mut self,
        head: Head,
        lim: &Limits,
        t: &Timeouts,
        now: Instant,
        x: &mut dyn Exchange,
    ) -> Option<(Head, Vec<u8>)> {
        let body = match head.framing {
            Framing::None => Some(Vec::new()),
            Framing::Length(n) if self.inbuf.len() as u64 >= n => {
                Some(self.inbuf.drain(..n as usize).collect())
            }
            Framing::Length(_) => None,
            Framing::Chunked => match decode_chunked(&self.inbuf, lim.max_body_bytes) {
                Ok(Some(d)) => {
                    self.inbuf.drain(..d.used);
                    Some(d.body)
                }
                Ok(None) => None,
                Err(e) => {
                    let line = crate::access_log::request_line(&head.request);
                    self.fail(&e, line.as_bytes(), x);
                    return None;
                }
            },
        };
        match body {
            Some(b) => Some((head, b)),
            None => {
                if head.expect_continue && !self.sent_continue && self.inbuf.is_empty() {
                    self.out.push_raw(b"HTTP/1.1 100 Continue\r\n\r\n");
                    self.sent_continue = true;
                }
                self.pending = Some(head);
                self.enter(Phase::Body, t, now);
                None
            }
        }
    }

    fn fail(&mut self, e: &HttpError, line: &[u8], x: &mut dyn Exchange) {
        tracing::debug!(peer = %self.peer, "refused: {e}");
        self.inbuf.clear();
        self.pending = None;
        self.refused = true;
        let resp = e.to_response();
        x.refused(self.peer, line, resp.status, resp.body.len().unwrap_or(0));
        self.queue(resp, false, false, false);
    }

    fn queue(&mut self, resp: Response, head_only: bool, keep_alive: bool, http10: bool) {
        let keep_alive = keep_alive && !self.close_after;
        if !self.out.push(resp, head_only, keep_alive, http10) {
            self.close_after = true;
        }
    }

    fn enter(&mut self, phase: Phase, t: &Timeouts, now: Instant) {
        if self.phase != phase {
            self.phase = phase;
            self.deadline = now
                + match phase {
                    Phase::Idle => t.keepalive,
                    Phase::Head => t.header,
                    Phase::Body => t.body,
                    Phase::Writing => t.send,
                };
        }
    }

    /// Writes queued output; `Ok(true)` when all of it is out.
    fn flush(&mut self, t: &Timeouts, now: Instant) -> io::Result<bool> {
        let f = self.out.flush(&self.stream)?;
        if f.progress {
            self.deadline = now + t.send;
        }
        Ok(f.done)
    }
}

/// The request line at the start of `buf` (without its line end), at most
/// `MAX_LOGGED_LINE` bytes; what arrived so far if the line is incomplete.
fn first_line(buf: &[u8]) -> &[u8] {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    &line[..line.len().min(MAX_LOGGED_LINE)]
}

/// Most bytes a connection buffers: room for a whole head and body (a pending chunked body
/// needs at most its limit plus `body::MAX_FRAMING` and a line). An incomplete request never
/// fills it, so a readable socket is never left unread (level-triggered, that would spin).
pub(crate) fn read_cap(lim: &Limits) -> usize {
    let body = usize::try_from(lim.max_body_bytes).unwrap_or(usize::MAX);
    lim.max_head_bytes
        .saturating_add(body)
        .saturating_add(64 * 1024)
}
