//! A set of worker threads with a stop channel each (a socket: byte `STOP` asks the thread
//! to stop, byte `MAIL` rings its mail doorbell) and one wake-up socket for their exits;
//! the `thread` MPM keeps one in the scheduler, the `hybrid` MPM one in each child process.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{WorkerBody, WorkerStart};
use crate::worker::StopSignal;

/// Small stacks: an idle worker touches a few pages only, but the address space is reserved.
const STACK_SIZE: usize = 512 * 1024;
/// Byte on a thread's stop socket: stop after the task in hand.
const STOP: u8 = 1;
/// Byte on a thread's stop socket: a command waits in the worker's mailbox.
const MAIL: u8 = 2;

struct Worker {
    stop: UnixStream,
    handle: JoinHandle<()>,
}

/// Threads running worker bodies, keyed by slot.
pub(super) struct WorkerThreads {
    workers: HashMap<usize, Worker>,
    done_tx: Sender<(usize, i32)>,
    done_rx: Receiver<(usize, i32)>,
    wake_rx: UnixStream,
    wake_tx: Arc<UnixStream>,
}

impl WorkerThreads {
    pub fn new() -> std::io::Result<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        let (done_tx, done_rx) = channel();
        Ok(Self {
            workers: HashMap::new(),
            done_tx,
            done_rx,
            wake_rx,
            wake_tx: Arc::new(wake_tx),
        })
    }

    /// Starts a thread running `body` on `slot`.
    pub fn spawn(
        &mut self,
        slot: usize,
        body: &WorkerBody,
        unit_tasks: Option<Arc<AtomicU64>>,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = UnixStream::pair()?;
        stop_rx.set_nonblocking(true)?;
        stop_tx.set_nonblocking(true)?;
        let body = body.clone();
        let done = self.done_tx.clone();
        let wake = self.wake_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("zeus-worker-{slot}"))
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let mut stop = ThreadStop {
                    socket: stop_rx,
                    stopped: false,
                    mail: false,
                };
                let start = WorkerStart {
                    slot,
                    stop: &mut stop,
                    unit_tasks: unit_tasks.as_deref(),
                };
                let run = std::panic::AssertUnwindSafe(|| body.run(start));
                let code = std::panic::catch_unwind(run).unwrap_or(101);
                let _ = done.send((slot, code));
                let _ = (&*wake).write(&[1]);
            })?;
        self.workers.insert(
            slot,
            Worker {
                stop: stop_tx,
                handle,
            },
        );
        Ok(())
    }

    /// Asks the thread on `slot` to end after its task in hand.
    pub fn stop(&mut self, slot: usize) {
        if let Some(w) = self.workers.get(&slot) {
            let _ = (&w.stop).write(&[STOP]);
        }
    }

    /// Asks every thread to end.
    pub fn stop_all(&mut self) {
        for w in self.workers.values() {
            let _ = (&w.stop).write(&[STOP]);
        }
    }

    /// Rings the mail doorbell of the thread on `slot`.
    pub fn notify(&mut self, slot: usize) {
        if let Some(w) = self.workers.get(&slot) {
            let _ = (&w.stop).write(&[MAIL]);
        }
    }

    /// Rings every thread's mail doorbell.
    pub fn notify_all(&mut self) {
        for w in self.workers.values() {
            let _ = (&w.stop).write(&[MAIL]);
        }
    }

    /// Joins finished threads; returns (slot, exit code) of each.
    pub fn reap(&mut self) -> Vec<(usize, i32)> {
        let mut buf = [0u8; 64];
        while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        let mut out = Vec::new();
        while let Ok((slot, code)) = self.done_rx.try_recv() {
            if let Some(w) = self.workers.remove(&slot) {
                let _ = w.handle.join();
            }
            out.push((slot, code));
        }
        out
    }

    /// Threads not yet reaped.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Readable when a thread has ended.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_rx.as_fd()
    }
}

/// A thread worker's stop signal: a non-blocking socket its MPM writes `STOP` or `MAIL` to.
/// A stop is remembered once read (the socket is drained).
struct ThreadStop {
    socket: UnixStream,
    stopped: bool,
    mail: bool,
}

impl StopSignal for ThreadStop {
    fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    fn requested(&mut self) -> bool {
        let mut buf = [0u8; 16];
        loop {
            match (&self.socket).read(&mut buf) {
                // The pool's end is gone: nobody can ask any more, so stop.
                Ok(0) => self.stopped = true,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == MAIL {
                            self.mail = true;
                        } else {
                            self.stopped = true;
                        }
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {} // WouldBlock: nothing more was sent
            }
            return self.stopped;
        }
    }

    fn take_mail(&mut self) -> bool {
        std::mem::take(&mut self.mail)
    }
}
