//! A connection's outgoing bytes, in order: a memory buffer (heads and small bodies), then
//! at most one deferred body: file regions sent with `sendfile(2)` (a `multipart/byteranges`
//! body interleaves them with part heads, copied into the buffer in turn), or a handler's stream
//! framed as chunks (HTTP/1.1) or sent raw until the connection closes (HTTP/1.0).
//!
//! Invariants: nothing is queued behind a deferred body (the connection stops handling
//! pipelined requests until it is gone, see `accepts_more`), so responses stay in order;
//! the buffer is refilled from a stream only when it is empty, so memory stays bounded.

use std::fs::File;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{send, MsgFlags};

use crate::response::{Body, Region, Response};

/// Stop handling pipelined requests while this much output waits.
const HIGH_WATER: usize = 256 * 1024;
/// Bytes read from a stream body per chunk.
const STREAM_CHUNK: usize = 32 * 1024;

/// A body sent after the buffer.
enum Deferred {
    /// `sendfile` from `offset`, `left` bytes to go; then each of `rest` (its prefix through
    /// the buffer, then its region), then `tail`.
    File {
        file: Arc<File>,
        offset: i64,
        left: u64,
        rest: std::vec::IntoIter<Region>,
        tail: Vec<u8>,
    },
    /// A handler's stream; `chunked` unless the client speaks HTTP/1.0.
    Stream {
        reader: Box<dyn Read + Send>,
        chunked: bool,
    },
}

/// Outgoing bytes of one connection.
#[derive(Default)]
pub struct Output {
    buf: Vec<u8>,
    pos: usize,
    deferred: Option<Deferred>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("deferred", &self.deferred.is_some())
            .finish()
    }
}

/// What `flush` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Everything is out.
    pub done: bool,
    /// Some bytes left (the send deadline restarts).
    pub progress: bool,
}

impl Output {
    /// Whether anything waits to be sent.
    pub fn pending(&self) -> bool {
        self.pos < self.buf.len() || self.deferred.is_some()
    }

    /// Whether another response may be queued behind what waits.
    pub fn accepts_more(&self) -> bool {
        self.deferred.is_none() && self.buf.len() - self.pos < HIGH_WATER
    }

    /// Queues raw bytes (an interim `100 Continue`).
    pub fn push_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queues a response; returns whether the connection may persist after it (a stream to
    /// an HTTP/1.0 client is delimited by the close).
    pub fn push(
        &mut self,
        resp: Response,
        head_only: bool,
        keep_alive: bool,
        http10: bool,
    ) -> bool {
        let keep_alive = keep_alive && !(http10 && resp.body.is_stream());
        resp.write_head(&mut self.buf, keep_alive, http10);
        if head_only || matches!(resp.status, 100..=199 | 204 | 304) {
            return keep_alive;
        }
        match resp.body {
            Body::Empty => {}
            Body::Bytes(b) => self.buf.extend_from_slice(&b),
            Body::Static(b) => self.buf.extend_from_slice(b),
            Body::File { len: 0, .. } | Body::SharedFile { len: 0, .. } => {}
            Body::File { file, offset, len } => {
                self.deferred = Some(Deferred::File {
                    file: Arc::new(file),
                    offset: offset as i64,
                    left: len,
                    rest: Vec::new().into_iter(),
                    tail: Vec::new(),
                })
            }
            Body::SharedFile { file, offset, len } => {
                self.deferred = Some(Deferred::File {
                    file,
                    offset: offset as i64,
                    left: len,
                    rest: Vec::new().into_iter(),
                    tail: Vec::new(),
                })
            }
            Body::Regions { file, parts, tail } => {
                self.deferred = Some(Deferred::File {
                    file: Arc::new(file),
                    offset: 0,
                    left: 0,
                    rest: parts.into_iter(),
                    tail,
                });
                self.next_region();
            }
            Body::Stream(reader) => {
                self.deferred = Some(Deferred::Stream {
                    reader,
                    chunked: !http10,
                })
            }
        }
        keep_alive
    }

    /// When the current file region is done: queues the next region's prefix and starts it,
    /// or queues the tail and ends the deferred body.
    fn next_region(&mut self) {
        let Some(Deferred::File {
            offset,
            left,
            rest,
            tail,
            ..
        }) = self.deferred.as_mut()
        else {
            return;
        };
        while *left == 0 {
            match rest.next() {
                Some(r) => {
                    self.buf.extend_from_slice(&r.prefix);
                    *offset = r.offset as i64;
                    *left = r.len;
                }
                None => {
                    self.buf.append(tail);
                    self.deferred = None;
                    return;
                }
            }
        }
    }

    /// Sends what the socket takes now.
    pub fn flush(&mut self, sock: &TcpStream) -> io::Result<Flushed> {
        let mut progress = false;
        loop {
            while self.pos < self.buf.len() {
                // With a file to follow, MSG_MORE lets the head share segments with the file's
                // first bytes instead of leaving as a small packet (nginx: tcp_nopush).
                let more = matches!(self.deferred, Some(Deferred::File { .. }));
                let flags = if more {
                    MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL
                } else {
                    MsgFlags::MSG_NOSIGNAL
                };
                match send(sock.as_raw_fd(), &self.buf[self.pos..], flags) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.pos += n;
                        progress = true;
                    }
                    Err(nix::errno::Errno::EAGAIN) => {
                        return Ok(Flushed {
                            done: false,
                            progress,
                        })
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.buf.clear();
            self.pos = 0;
            match self.deferred.as_mut() {
                None => {
                    return Ok(Flushed {
                        done: true,
                        progress,
                    })
                }
                Some(Deferred::File {
                    file, offset, left, ..
                }) => {
                    if *left > 0 {
                        let chunk = (*left).min(1 << 20) as usize;
                        match nix::sys::sendfile::sendfile(sock, &*file, Some(offset), chunk) {
                            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()), // file shrank
                            Ok(n) => {
                                progress = true;
                                *left -= n as u64;
                            }
                            Err(nix::errno::Errno::EAGAIN) => {
                                return Ok(Flushed {
                                    done: false,
                                    progress,
                                })
                            }
                            Err(nix::errno::Errno::EINTR) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    self.next_region();
                }
                Some(Deferred::Stream { reader, chunked }) => {
                    let chunked = *chunked;
                    let mut chunk = vec![0u8; STREAM_CHUNK];
                    let n = loop {
                        match reader.read(&mut chunk) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            other => break other?,
                        }
                    };
                    if n == 0 {
                        self.deferred = None;
                        if chunked {
                            self.buf.extend_from_slice(b"0\r\n\r\n");
                        }
                    } else if chunked {
                        self.buf.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                        self.buf.extend_from_slice(&chunk[..n]);
                        self.buf.extend_from_slice(b"\r\n");
                    } else {
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    }
}
