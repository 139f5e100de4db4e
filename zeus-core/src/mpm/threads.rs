//! A set of worker threads with a stop channel each and one wake-up socket for their exits;
//! the `thread` MPM keeps one in the scheduler, the `hybrid` MPM one in each child process.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::{WorkerBody, WorkerStart};
use crate::worker::StopSignal;

/// Small stacks: an idle worker touches a few pages only, but the address space is reserved.
const STACK_SIZE: usize = 512 * 1024;

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
        let body = body.clone();
        let done = self.done_tx.clone();
        let wake = self.wake_tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("zeus-worker-{slot}"))
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let mut stop = ThreadStop(stop_rx);
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
            let _ = (&w.stop).write(&[1]);
        }
    }

    /// Asks every thread to end.
    pub fn stop_all(&mut self) {
        for w in self.workers.values() {
            let _ = (&w.stop).write(&[1]);
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

/// A thread worker's stop signal: a socket its MPM writes one byte to.
struct ThreadStop(UnixStream);

impl StopSignal for ThreadStop {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn requested(&mut self) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }
}
