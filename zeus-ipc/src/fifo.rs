//! `fifo` adapter: one named pipe per mailbox (`mkfifo` via nix) in the run dir, carrying
//! length-prefixed frames (`u32` little-endian length, then the bytes).
//!
//! - Many senders share a FIFO safely because each frame is one `write` of at most
//!   `PIPE_BUF` bytes, which the kernel writes atomically (never interleaved); hence the
//!   maximum message of `PIPE_BUF - 4` = 4092 bytes. Larger requests are refused at creation.
//! - The receiver reads in bulk into a buffer owned by the handle (no allocation per
//!   message) and cuts frames from it; threads sharing the receiving handle take turns on it.
//! - All descriptors are non-blocking; waits are `poll` slices ([`crate::LIVENESS_PERIOD`]).
//!   A pipe has no receive timeout, so a sleeping wait costs a `poll` besides the `read`.
//!   Before it sleeps, a waiting receive reads again after each `sched_yield` for
//!   [`ChannelOptions::spin`] (`crate::spin::yield_spin`): a peer on another CPU is seen
//!   without a sleep and a wake-up, a peer runnable on ours runs at the first yield. A
//!   receiver whose last `read` drained the pipe (found it empty, or left room in the
//!   buffer) starts with that wait instead of a `read` that would most likely fail.
//! - A frame is written with one `writev` of its header and the message (no copy).
//! - Peer death: a worker's FIFO has the hub as its only writer, so the hub's death is EOF
//!   (or, if a forked sibling inherited the hub's descriptor, the pid check). A send into a
//!   FIFO nobody reads any more fails with `EPIPE` (Rust ignores `SIGPIPE`; zeus-core keeps it
//!   ignored) or `ENXIO` on open: `Disconnected`.
//! - The hub keeps a write end of its own FIFO open, so that it never reads EOF while no
//!   worker happens to be connected, and writes (eagerly, in [`Channel::endpoint`]) to every
//!   worker FIFO it makes an endpoint for, so a new worker does not read EOF either.

use std::fs::File;
use std::io::{IoSlice, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::poll::PollFlags;
use nix::sys::stat::Mode;
use nix::unistd::{mkfifo, read};

use crate::channel::{check_mailbox, check_send, Channel, ChannelOptions, IpcAdapter, Mailbox};
use crate::deadline::{wait_fd, Deadline};
use crate::error::{CreateError, OpenError, RecvError, SendError};
use crate::name::{IpcName, OwnedFiles};
use crate::spin::yield_spin;
use crate::sys;

const ADAPTER: IpcAdapter = IpcAdapter::Fifo;
const HEADER: usize = 4;
/// Largest message: one atomic pipe write including the frame header.
pub const MAX_MESSAGE: usize = libc::PIPE_BUF - HEADER;
/// Receive buffer: the default pipe size, so one `read` can drain a full pipe.
const READ_BUF: usize = 64 * 1024;

#[derive(Debug)]
struct Shared {
    paths: Vec<PathBuf>,
    workers: u32,
    max: usize,
    capacity: usize,
    hub_pid: i32,
    /// How long a waiting receive reads between yields before it polls.
    spin: Duration,
}

#[derive(Debug)]
struct FrameBuf {
    data: Box<[u8]>,
    start: usize,
    end: usize,
    /// The last `read` found the pipe empty: wait before the next one.
    idle: bool,
}

impl FrameBuf {
    /// The next whole frame as (payload offset, length); `Err` if the stream is not ours.
    fn frame(&self, max: usize) -> Result<Option<(usize, usize)>, &'static str> {
        let have = &self.data[self.start..self.end];
        let Some(header) = have.first_chunk::<HEADER>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*header) as usize;
        if len > max {
            return Err("frame length above the channel's maximum");
        }
        Ok((have.len() >= HEADER + len).then_some((self.start + HEADER, len)))
    }

    /// Room to read into, after moving a partial frame to the front when needed.
    fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.data.len() - self.end < libc::PIPE_BUF {
            self.data.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        &mut self.data[self.end..]
    }
}

#[derive(Debug)]
struct Reader {
    fd: OwnedFd,
    buf: Mutex<FrameBuf>,
}

/// A handle on a FIFO channel; see the [module docs](self).
#[derive(Debug)]
pub struct FifoChannel {
    mailbox: Mailbox,
    shared: Arc<Shared>,
    reader: Reader,
    /// Write ends, opened on first use, one per mailbox.
    writers: Box<[OnceLock<File>]>,
    /// Hub: a writer on its own FIFO, so it never reads EOF.
    _keep_open: Option<OwnedFd>,
    _owner: Option<OwnedFiles>,
}

fn fifo_path(opts: &ChannelOptions, name: &IpcName, mailbox: u32) -> PathBuf {
    opts.run_dir.join(name.object(&format!("{mailbox}.fifo")))
}

fn open_reader(path: &PathBuf, capacity: usize) -> Result<OwnedFd, (&'static str, Errno)> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = open(path, flags, Mode::empty()).map_err(|e| ("open", e))?;
    let size = i32::try_from(capacity).unwrap_or(i32::MAX);
    fcntl(&fd, FcntlArg::F_SETPIPE_SZ(size)).map_err(|e| ("fcntl(F_SETPIPE_SZ)", e))?;
    Ok(fd)
}

impl FifoChannel {
    fn with_reader(mailbox: Mailbox, shared: Arc<Shared>, fd: OwnedFd) -> Self {
        let writers = (0..=shared.workers).map(|_| OnceLock::new()).collect();
        Self {
            mailbox,
            shared,
            reader: Reader {
                fd,
                buf: Mutex::new(FrameBuf {
                    data: vec![0; READ_BUF].into_boxed_slice(),
                    start: 0,
                    end: 0,
                    idle: false,
                }),
            },
            writers,
            _keep_open: None,
            _owner: None,
        }
    }

    /// The write end for `to`, opened on first use. `ENXIO` (no reader) and `ENOENT`
    /// (channel removed) mean the receiver is gone.
    fn writer(&self, to: Mailbox) -> Result<&File, Errno> {
        let slot = &self.writers[to.index() as usize];
        if let Some(fd) = slot.get() {
            return Ok(fd);
        }
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = open(
            &self.shared.paths[to.index() as usize],
            flags,
            Mode::empty(),
        )?;
        // A racing thread may have set it first; its descriptor is as good as ours.
        Ok(slot.get_or_init(|| File::from(fd)))
    }

    fn create_fifos(name: &IpcName, opts: &ChannelOptions) -> Result<OwnedFiles, CreateError> {
        let mut owner = OwnedFiles::new(Vec::new());
        for mailbox in 0..=opts.workers {
            let path = fifo_path(opts, name, mailbox);
            match mkfifo(&path, Mode::from_bits_truncate(0o600)) {
                Ok(()) => owner.push(path),
                Err(Errno::EEXIST) => {
                    return Err(CreateError::AlreadyExists {
                        adapter: ADAPTER,
                        name: name.to_string(),
                        path: path.display().to_string(),
                    })
                }
                Err(e) => {
                    return Err(CreateError::Io {
                        adapter: ADAPTER,
                        op: "mkfifo",
                        object: path.display().to_string(),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(owner)
    }
}

impl Channel for FifoChannel {
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError> {
        opts.validate()?;
        if opts.max_message_size > MAX_MESSAGE {
            return Err(CreateError::ExceedsLimit {
                adapter: ADAPTER,
                what: "max_message_size",
                requested: opts.max_message_size,
                limit: MAX_MESSAGE,
                source_of_limit: "PIPE_BUF minus the 4-byte frame header",
            });
        }
        let pipe_max = sys::kernel_limit("fs/pipe-max-size").unwrap_or(1 << 20);
        if opts.capacity > pipe_max {
            return Err(CreateError::ExceedsLimit {
                adapter: ADAPTER,
                what: "capacity",
                requested: opts.capacity,
                limit: pipe_max,
                source_of_limit: "fs.pipe-max-size",
            });
        }
        let owner = Self::create_fifos(name, opts)?;
        let paths: Vec<PathBuf> = (0..=opts.workers)
            .map(|m| fifo_path(opts, name, m))
            .collect();
        let io = |op: &'static str, e: Errno| CreateError::Io {
            adapter: ADAPTER,
            op,
            object: paths[0].display().to_string(),
            source: e.into(),
        };
        let fd = open_reader(&paths[0], opts.capacity).map_err(|(op, e)| io(op, e))?;
        let keep = open(
            &paths[0],
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io("open", e))?;
        let shared = Arc::new(Shared {
            paths: paths.clone(),
            workers: opts.workers,
            max: opts.max_message_size,
            capacity: opts.capacity,
            hub_pid: sys::current_pid(),
            spin: opts.spin,
        });
        let mut hub = Self::with_reader(Mailbox::HUB, shared, fd);
        hub._keep_open = Some(keep);
        hub._owner = Some(owner);
        Ok(hub)
    }

    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError> {
        check_mailbox(mailbox, self.shared.workers)?;
        let path = &self.shared.paths[mailbox.index() as usize];
        let fd = open_reader(path, self.shared.capacity).map_err(|(op, e)| OpenError::Io {
            adapter: ADAPTER,
            op,
            object: path.display().to_string(),
            source: e.into(),
        })?;
        // Be the new reader's writer from now on, so it does not read EOF before our first
        // message (see the module docs).
        self.writer(mailbox).map_err(|e| OpenError::Io {
            adapter: ADAPTER,
            op: "open",
            object: path.display().to_string(),
            source: e.into(),
        })?;
        Ok(Self::with_reader(mailbox, Arc::clone(&self.shared), fd))
    }

    fn adapter(&self) -> IpcAdapter {
        ADAPTER
    }

    fn mailbox(&self) -> Mailbox {
        self.mailbox
    }

    fn workers(&self) -> u32 {
        self.shared.workers
    }

    fn max_message_size(&self) -> usize {
        self.shared.max
    }

    fn send(&self, to: Mailbox, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        check_send(to, msg.len(), self.shared.workers, self.shared.max)?;
        let fd = self.writer(to).map_err(|e| match e {
            Errno::ENXIO | Errno::ENOENT => SendError::Disconnected(to),
            e => SendError::Io {
                op: "open",
                mailbox: to,
                source: e.into(),
            },
        })?;
        // One write of at most PIPE_BUF bytes in all is what makes it atomic; `writev`
        // counts its pieces together. Fits: msg.len() <= max <= 4092.
        let header = (msg.len() as u32).to_le_bytes();
        let frame = [IoSlice::new(&header), IoSlice::new(msg)];
        let mut deadline: Option<Deadline> = None;
        loop {
            let written = (&*fd)
                .write_vectored(&frame)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
            match written {
                Ok(n) if n == HEADER + msg.len() => return Ok(()),
                Ok(_) => {
                    return Err(SendError::Io {
                        op: "write",
                        mailbox: to,
                        source: std::io::Error::other("short write of a frame below PIPE_BUF"),
                    })
                }
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(Errno::EPIPE) => return Err(SendError::Disconnected(to)),
                Err(e) => {
                    return Err(SendError::Io {
                        op: "write",
                        mailbox: to,
                        source: e.into(),
                    })
                }
            }
            let d = deadline.get_or_insert_with(|| Deadline::new(timeout));
            let Some(slice) = d.slice() else {
                return Err(if d.waits() {
                    SendError::Timeout {
                        mailbox: to,
                        waited: d.elapsed(),
                    }
                } else {
                    SendError::Full(to)
                });
            };
            if d.liveness_due() && to.is_hub() && !sys::process_alive(self.shared.hub_pid) {
                return Err(SendError::Disconnected(to));
            }
            wait_fd(fd, PollFlags::POLLOUT, slice).map_err(|e| SendError::Io {
                op: "poll",
                mailbox: to,
                source: e.into(),
            })?;
        }
    }

    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        for path in &self.shared.paths {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        let mailbox = self.mailbox;
        let mut frames = self
            .reader
            .buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut deadline: Option<Deadline> = None;
        // After a read that drained the pipe, wait first (see the module docs).
        let mut wait_first = frames.idle && !timeout.is_zero();
        let mut spun = false;
        loop {
            match frames.frame(self.shared.max) {
                Ok(Some((at, len))) => {
                    let have = buf.len();
                    let out = buf.get_mut(..len).ok_or(RecvError::BufferTooSmall {
                        needed: len,
                        len: have,
                    })?;
                    out.copy_from_slice(&frames.data[at..at + len]);
                    frames.start = at + len;
                    return Ok(len);
                }
                Ok(None) => {}
                Err(reason) => {
                    (frames.start, frames.end) = (0, 0);
                    return Err(RecvError::Corrupt { mailbox, reason });
                }
            }
            if !std::mem::take(&mut wait_first) && self.fill(&mut frames)? {
                continue;
            }
            // The first wait reads between yields (no clock read unless it fails); a wait
            // that outlasts it counts the spin as part of the timeout.
            let mut spun_for = Duration::ZERO;
            if !timeout.is_zero() && !std::mem::replace(&mut spun, true) {
                spun_for = self.shared.spin.min(timeout);
                let filled = yield_spin(spun_for, || {
                    self.fill(&mut frames)
                        .map_or_else(|e| Some(Err(e)), |got| got.then_some(Ok(())))
                });
                if let Some(filled) = filled {
                    filled?;
                    continue;
                }
            }
            let d = deadline.get_or_insert_with(|| Deadline::started_before(timeout, spun_for));
            let Some(slice) = d.slice() else {
                return Err(if d.waits() {
                    RecvError::Timeout {
                        mailbox,
                        waited: d.elapsed(),
                    }
                } else {
                    RecvError::Empty(mailbox)
                });
            };
            if d.liveness_due() && !mailbox.is_hub() && !sys::process_alive(self.shared.hub_pid) {
                return Err(RecvError::Disconnected(mailbox));
            }
            wait_fd(self.reader.fd.as_fd(), PollFlags::POLLIN, slice).map_err(|e| {
                RecvError::Io {
                    op: "poll",
                    mailbox,
                    source: e.into(),
                }
            })?;
        }
    }
}

impl FifoChannel {
    /// One `read` into the receive buffer: `true` when bytes arrived, `false` when the pipe
    /// was empty (the buffer then notes it, see the module docs).
    fn fill(&self, frames: &mut FrameBuf) -> Result<bool, RecvError> {
        let spare = frames.spare();
        let room = spare.len();
        loop {
            return match read(&self.reader.fd, &mut *spare) {
                // Every writer closed: the hub is gone (workers' FIFOs) or the channel closed.
                Ok(0) => Err(RecvError::Disconnected(self.mailbox)),
                Ok(n) => {
                    frames.end += n;
                    // A read that left room drained the pipe: the next receive starts by
                    // waiting, not with a `read` bound to fail.
                    frames.idle = n < room;
                    Ok(true)
                }
                Err(Errno::EAGAIN) => {
                    frames.idle = true;
                    Ok(false)
                }
                Err(Errno::EINTR) => continue,
                Err(e) => Err(RecvError::Io {
                    op: "read",
                    mailbox: self.mailbox,
                    source: e.into(),
                }),
            };
        }
    }

    /// The read end of this endpoint's FIFO, and whether bytes already read from it wait in
    /// the reader's buffer ([`crate::Readiness`]).
    pub(crate) fn read_readiness(&self) -> (std::os::fd::BorrowedFd<'_>, bool) {
        let buffered = self.reader.buf.lock().map_or(true, |b| b.start < b.end);
        (self.reader.fd.as_fd(), buffered)
    }
}
