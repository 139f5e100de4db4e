//! One client connection: a read buffer that grows only as far as the command being read
//! needs (a line, or a line plus a value up to `item_size_max`), pipelined replies batched
//! into one write, and memcached's connection behaviour after errors.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::protocol::{self, Ctx, Step};
use crate::store::Stat;

/// Read granularity.
const CHUNK: usize = 16 << 10;
/// Stop answering pipelined requests while this much output is unsent (backpressure); a
/// multiget pauses past it too, so a connection holds at most this plus one item.
pub const OUT_HIGH: usize = 1 << 20;

/// One batch of epoll events: its time, and the bytes moved, counted into the shared
/// `bytes_read` / `bytes_written` once per batch (two shared-cache-line updates per batch
/// instead of two per request).
#[derive(Debug)]
pub struct Batch {
    /// When the batch's events arrived.
    pub now: Instant,
    /// Bytes read from clients in this batch.
    pub read: u64,
    /// Bytes written to clients in this batch.
    pub written: u64,
}

impl Batch {
    /// A batch starting now.
    pub fn new() -> Self {
        Self {
            now: Instant::now(),
            read: 0,
            written: 0,
        }
    }

    /// Adds the batch's bytes to the shared counters.
    pub fn count(&self, store: &crate::store::Store) {
        if self.read > 0 {
            store.count(Stat::BytesRead, self.read);
        }
        if self.written > 0 {
            store.count(Stat::BytesWritten, self.written);
        }
    }
}

/// What the event loop should do with the connection next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Wait until readable.
    Read,
    /// Wait until writable (output pending).
    Write,
    /// Replies to a drained read are ready: write them at the end of the epoll batch.
    Flush,
    /// Close it.
    Close,
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket (non-blocking).
    pub stream: TcpStream,
    /// The client.
    pub peer: SocketAddr,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    skip: usize,
    /// Keys of the multiget at `buf[start..]` already answered (it paused on a full output).
    resume: usize,
    out: Vec<u8>,
    sent: usize,
    closing: bool,
    /// Last time the client sent something.
    pub last_active: Instant,
}

impl Conn {
    /// Wraps an accepted socket.
    pub fn new(stream: TcpStream, peer: SocketAddr) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            peer,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            skip: 0,
            resume: 0,
            out: Vec::new(),
            sent: 0,
            closing: false,
            last_active: Instant::now(),
        })
    }

    /// Reads, answers and writes until the socket would block; `task` runs around each
    /// request (the worker counts it); `batch` is the event batch. Bounded work
    /// per call so one client cannot starve others.
    ///
    /// Syscalls per request, pipelined or not: one read and one write. A read that leaves
    /// room in the buffer has drained the socket, so after answering it the connection goes
    /// back to epoll (level-triggered: later bytes wake it) instead of reading once more
    /// only to get `EAGAIN`; all replies to one read leave in one write. When that read
    /// drained the socket and everything in the buffer is answered, the write is left to the
    /// end of the epoll batch ([`Want::Flush`], then [`Conn::finish`]).
    pub fn drive(&mut self, cx: &mut Ctx<'_>, task: &mut dyn FnMut(), batch: &mut Batch) -> Want {
        let mut drained = false;
        for _ in 0..16 {
            match self.flush(batch) {
                Ok(true) => {}
                Ok(false) => return Want::Write,
                Err(_) => return Want::Close,
            }
            if self.closing {
                return Want::Close;
            }
            self.answer(cx, task);
            if drained && self.start == self.end && !self.out.is_empty() && !self.closing {
                // Everything read is answered and the socket is empty: the replies can wait
                // for the rest of the batch (a multiget paused on a full output, or requests
                // held back by it, are still in the buffer and go the long way).
                return Want::Flush;
            }
            if !self.out.is_empty() || self.closing {
                continue;
            }
            if drained {
                return Want::Read;
            }
            match self.fill(batch) {
                Ok((0, _)) => return Want::Close,
                Ok((_, short)) => drained = short,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Want::Read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Want::Close,
            }
        }
        if self.out.is_empty() {
            Want::Read
        } else {
            Want::Write
        }
    }

    /// Writes the replies deferred by [`Want::Flush`] (the read before them drained the
    /// socket, so the connection waits for readability next).
    pub fn finish(&mut self, batch: &mut Batch) -> Want {
        match self.flush(batch) {
            Ok(true) => Want::Read,
            Ok(false) => Want::Write,
            Err(_) => Want::Close,
        }
    }

    /// Answers the complete requests buffered so far.
    fn answer(&mut self, cx: &mut Ctx<'_>, task: &mut dyn FnMut()) {
        cx.batch_start = self.out.len();
        while self.out.len() < OUT_HIGH && !self.closing {
            if self.skip > 0 {
                let n = self.skip.min(self.end - self.start);
                self.start += n;
                self.skip -= n;
                if self.skip > 0 {
                    break;
                }
            }
            if self.start == self.end {
                break;
            }
            cx.resume = self.resume;
            let step = protocol::step(&self.buf[self.start..self.end], &mut self.out, cx);
            self.resume = 0;
            match step {
                Step::Partial(done) => {
                    // Write what this multiget produced so far before answering more of it.
                    self.resume = done;
                    break;
                }
                Step::Done(n) => self.start += n,
                Step::Skip(n, skip) => {
                    self.start += n;
                    self.skip = skip;
                }
                Step::Close(n) => {
                    self.start += n;
                    self.closing = true;
                }
                Step::NeedMore => break,
            }
            task();
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One read into the buffer, growing it when a command needs more room; returns the
    /// bytes read and whether they left room (the socket had no more).
    fn fill(&mut self, batch: &mut Batch) -> io::Result<(usize, bool)> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                // The pending command needs more room than we have: grow (a value is bounded by
                // item_size_max and a line by MAX_GET_LINE, both checked by the protocol).
                let grow = self.buf.len().max(CHUNK);
                self.buf.resize(self.buf.len() + grow, 0);
            }
        }
        // While skipping a refused value the buffer is always drained, so it never grows for it.
        let room = self.buf.len() - self.end;
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        if n > 0 {
            self.last_active = batch.now;
            batch.read += n as u64;
        }
        if self.buf.len() > 4 * CHUNK && self.end - self.start < CHUNK && self.skip == 0 {
            // Shrink back after a large value.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.buf.truncate(CHUNK.max(self.end));
            self.buf.shrink_to(CHUNK.max(self.end));
        }
        Ok((n, n < room))
    }

    /// Writes pending output; `Ok(true)` when all of it is gone.
    fn flush(&mut self, batch: &mut Batch) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    batch.written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.sent = 0;
        if self.out.capacity() > 4 * OUT_HIGH {
            self.out.shrink_to(CHUNK);
        }
        Ok(true)
    }
}
