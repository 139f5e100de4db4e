//! `socket` adapter: one Unix datagram socket per mailbox, bound to
//! `<run dir>/zeus.<instance>.<scope>.<mailbox>.sock`.
//!
//! - Datagrams keep message boundaries and are delivered whole or not at all, so many
//!   senders need no framing and no lock. Each sender uses one socket *connected* to the
//!   target per mailbox (made on first use): then `poll(POLLOUT)` reports room in the
//!   receiver's queue, which an unconnected `sendto` cannot.
//! - Capacity: the kernel queues at most `net.unix.max_dgram_qlen` datagrams per receiver
//!   and charges unread bytes to the sender's `SO_SNDBUF` (set to `capacity`, at most
//!   `net.core.wmem_max`); the largest message is `max_message_size`, which must fit it.
//! - Peer death: sending to a socket whose process is gone fails with `ECONNREFUSED`; we
//!   reconnect once (a replacement worker may have bound the path again) and report
//!   `Disconnected` otherwise. A waiting worker checks the hub's pid.
//! - [`Channel::endpoint`] binds the mailbox's path anew (removing a dead predecessor's
//!   file), so a replacement worker takes over its mailbox.
//! - A waiting `recv` is one blocking `recv` bounded by `SO_RCVTIMEO` (set to the wait's
//!   slice, whole milliseconds, only when it changes), so a message that arrives while we
//!   wait costs one system call, as a bare socket does. A thread that finds another thread
//!   of its process already waiting that way (they share the socket's timeout) waits with
//!   `poll` instead; so does a receive into a buffer shorter than the largest message, which
//!   must peek at the next datagram's length first.
//! - The same datagram sockets carry requests and replies between a service and clients it
//!   did not fork ([`ServiceSocket`], [`request`]): zeus's control socket. The service reads
//!   requests without blocking and answers each from a socket of its own (a datagram in a
//!   receiver's queue is charged to its sender's send buffer: clients that ask and never
//!   read would otherwise stop every later reply); a client takes a reply only from a
//!   process of the user owning the service's socket file (`SCM_CREDENTIALS`).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{
    bind, connect, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use nix::sys::time::TimeVal;

use crate::channel::{check_mailbox, check_send, Channel, ChannelOptions, IpcAdapter, Mailbox};
use crate::deadline::{wait_fd, Deadline};
use crate::error::{CreateError, OpenError, RecvError, SendError};
use crate::name::{IpcName, OwnedFiles};
use crate::sys;

mod service;
pub use service::{request, ReplyError, ReplyTo, Request, ServiceSocket};

const ADAPTER: IpcAdapter = IpcAdapter::Socket;
/// `sizeof(sun_path)` minus the terminating NUL.
const MAX_PATH: usize = 107;

#[derive(Debug)]
struct Shared {
    paths: Vec<PathBuf>,
    addrs: Vec<UnixAddr>,
    workers: u32,
    max: usize,
    capacity: usize,
    hub_pid: i32,
}

/// A handle on a Unix-socket channel; see the [module docs](self).
#[derive(Debug)]
pub struct SocketChannel {
    mailbox: Mailbox,
    shared: Arc<Shared>,
    rx: OwnedFd,
    /// `rx`'s `SO_RCVTIMEO` as last set (`None`: the default); held by the thread waiting in
    /// a blocking `recv`.
    rx_timeout: Mutex<Option<Duration>>,
    tx: Box<[OnceLock<OwnedFd>]>,
    _owner: Option<OwnedFiles>,
}

/// A datagram socket; every call on it says whether it may block (`MSG_DONTWAIT`), and only
/// the receiving end is left in blocking mode, for its `SO_RCVTIMEO` waits.
fn datagram_socket(nonblocking: bool) -> Result<OwnedFd, Errno> {
    let flags = if nonblocking {
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK
    } else {
        SockFlag::SOCK_CLOEXEC
    };
    socket(AddressFamily::Unix, SockType::Datagram, flags, None)
}

/// The slice a blocking receive waits: whole milliseconds when it is that long (so that the
/// socket's timeout need not be set again on every call), never longer than `slice`.
fn rx_slice(slice: Duration) -> Duration {
    if slice >= Duration::from_millis(2) {
        Duration::from_millis(slice.as_millis() as u64)
    } else {
        slice
    }
}

/// A socket bound to `addr` (the receiving end of a mailbox).
fn bound_socket(addr: &UnixAddr) -> Result<OwnedFd, (&'static str, Errno)> {
    let fd = datagram_socket(false).map_err(|e| ("socket", e))?;
    bind(fd.as_raw_fd(), addr).map_err(|e| ("bind", e))?;
    Ok(fd)
}

impl SocketChannel {
    fn bound(mailbox: Mailbox, shared: Arc<Shared>, rx: OwnedFd) -> Self {
        let tx = (0..=shared.workers).map(|_| OnceLock::new()).collect();
        Self {
            mailbox,
            shared,
            rx,
            rx_timeout: Mutex::new(None),
            tx,
            _owner: None,
        }
    }

    /// The socket connected to `to`, made on first use.
    fn sender(&self, to: Mailbox) -> Result<&OwnedFd, Errno> {
        let slot = &self.tx[to.index() as usize];
        if let Some(fd) = slot.get() {
            return Ok(fd);
        }
        let fd = datagram_socket(true)?;
        setsockopt(&fd, sockopt::SndBuf, &self.shared.capacity)?;
        connect(fd.as_raw_fd(), &self.shared.addrs[to.index() as usize])?;
        Ok(slot.get_or_init(|| fd))
    }

    fn paths(name: &IpcName, opts: &ChannelOptions) -> Result<Vec<PathBuf>, CreateError> {
        (0..=opts.workers)
            .map(|m| {
                let path = opts.run_dir.join(name.object(&format!("{m}.sock")));
                let len = path.as_os_str().len();
                if len > MAX_PATH {
                    return Err(CreateError::PathTooLong {
                        adapter: ADAPTER,
                        path,
                        len,
                        max: MAX_PATH,
                    });
                }
                if path.symlink_metadata().is_ok() {
                    return Err(CreateError::AlreadyExists {
                        adapter: ADAPTER,
                        name: name.to_string(),
                        path: path.display().to_string(),
                    });
                }
                Ok(path)
            })
            .collect()
    }

    /// One blocking `recv` of at most `slice` (`EAGAIN` when it ran out); `None` when another
    /// thread of ours is in one already (the caller then polls).
    fn recv_waiting(&self, buf: &mut [u8], slice: Duration) -> Option<Result<usize, Errno>> {
        let mut set = self.rx_timeout.try_lock().ok()?;
        let slice = rx_slice(slice);
        if *set != Some(slice) {
            let tv = TimeVal::new(
                slice.as_secs() as _,
                // A zero timeval would mean "forever"; slices are never zero.
                slice.subsec_micros().max(u32::from(slice.as_secs() == 0)) as _,
            );
            if let Err(e) = setsockopt(&self.rx, sockopt::ReceiveTimeout, &tv) {
                return Some(Err(e));
            }
            *set = Some(slice);
        }
        Some(recv(self.rx.as_raw_fd(), buf, MsgFlags::empty()))
    }

    fn send_errno(to: Mailbox, op: &'static str, e: Errno) -> SendError {
        match e {
            Errno::ECONNREFUSED | Errno::ENOENT | Errno::ENOTCONN => SendError::Disconnected(to),
            e => SendError::Io {
                op,
                mailbox: to,
                source: e.into(),
            },
        }
    }
}

impl Channel for SocketChannel {
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError> {
        opts.validate()?;
        let wmem_max = sys::kernel_limit("net/core/wmem_max").unwrap_or(usize::MAX);
        if opts.capacity > wmem_max {
            return Err(CreateError::ExceedsLimit {
                adapter: ADAPTER,
                what: "capacity",
                requested: opts.capacity,
                limit: wmem_max,
                source_of_limit: "net.core.wmem_max (SO_SNDBUF)",
            });
        }
        let paths = Self::paths(name, opts)?;
        let io = |op, object: &PathBuf, e: Errno| CreateError::Io {
            adapter: ADAPTER,
            op,
            object: object.display().to_string(),
            source: e.into(),
        };
        let addrs = paths
            .iter()
            .map(|p| UnixAddr::new(p).map_err(|e| io("sockaddr_un", p, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let rx = bound_socket(&addrs[0]).map_err(|(op, e)| match e {
            Errno::EADDRINUSE => CreateError::AlreadyExists {
                adapter: ADAPTER,
                name: name.to_string(),
                path: paths[0].display().to_string(),
            },
            e => io(op, &paths[0], e),
        })?;
        let owner = OwnedFiles::new(paths.clone());
        let shared = Arc::new(Shared {
            paths,
            addrs,
            workers: opts.workers,
            max: opts.max_message_size,
            capacity: opts.capacity,
            hub_pid: sys::current_pid(),
        });
        let mut hub = Self::bound(Mailbox::HUB, shared, rx);
        hub._owner = Some(owner);
        Ok(hub)
    }

    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError> {
        check_mailbox(mailbox, self.shared.workers)?;
        let at = mailbox.index() as usize;
        let path = &self.shared.paths[at];
        // A previous receiver's file (it died, or was replaced) would make bind fail.
        let _ = std::fs::remove_file(path);
        let rx = bound_socket(&self.shared.addrs[at]).map_err(|(op, e)| OpenError::Io {
            adapter: ADAPTER,
            op,
            object: path.display().to_string(),
            source: e.into(),
        })?;
        Ok(Self::bound(mailbox, Arc::clone(&self.shared), rx))
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
        let fd = self
            .sender(to)
            .map_err(|e| Self::send_errno(to, "connect", e))?;
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        let mut reconnected = false;
        let mut deadline: Option<Deadline> = None;
        loop {
            match send(fd.as_raw_fd(), msg, flags) {
                Ok(_) => return Ok(()),
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNREFUSED | Errno::ENOTCONN) if !reconnected => {
                    // The receiver went away; a replacement may have bound the path since.
                    reconnected = true;
                    connect(fd.as_raw_fd(), &self.shared.addrs[to.index() as usize])
                        .map_err(|e| Self::send_errno(to, "connect", e))?;
                    continue;
                }
                Err(e) => return Err(Self::send_errno(to, "send", e)),
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
            wait_fd(fd.as_fd(), PollFlags::POLLOUT, slice)
                .map_err(|e| Self::send_errno(to, "poll", e))?;
        }
    }

    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        // Workers' sockets not bound yet (`endpoint` binds them) are only ever sent to by
        // the hub, which keeps its privileges.
        for path in &self.shared.paths {
            match std::os::unix::fs::chown(path, Some(uid), Some(gid)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        let mailbox = self.mailbox;
        let io = |op, e: Errno| RecvError::Io {
            op,
            mailbox,
            source: e.into(),
        };
        let rx = self.rx.as_raw_fd();
        let mut deadline: Option<Deadline> = None;
        // With a full-size buffer and time to wait, block in `recv` itself, one slice at a
        // time (see the module docs); otherwise, or once out of time, the polling loop.
        let mut block = buf.len() >= self.shared.max && !timeout.is_zero();
        loop {
            if block {
                let d = deadline.get_or_insert_with(|| Deadline::new(timeout));
                if let Some(slice) = d.slice() {
                    if d.liveness_due()
                        && !mailbox.is_hub()
                        && !sys::process_alive(self.shared.hub_pid)
                    {
                        return Err(RecvError::Disconnected(mailbox));
                    }
                    match self.recv_waiting(buf, slice) {
                        Some(Ok(len)) => return Ok(len),
                        Some(Err(Errno::EAGAIN | Errno::EINTR)) => continue,
                        Some(Err(e)) => return Err(io("recv", e)),
                        // Another thread waits in `recv`: poll like it.
                        None => block = false,
                    }
                } else {
                    // Out of time: one last look below, then `Timeout`.
                    block = false;
                }
            }
            if buf.len() < self.shared.max {
                // Would the next datagram be cut? MSG_TRUNC reports its real length.
                let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT;
                match recv(rx, &mut [], peek) {
                    Ok(needed) if needed > buf.len() => {
                        return Err(RecvError::BufferTooSmall {
                            needed,
                            len: buf.len(),
                        })
                    }
                    Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(e) => return Err(io("recv", e)),
                }
            }
            match recv(rx, buf, MsgFlags::MSG_DONTWAIT) {
                Ok(len) => return Ok(len),
                Err(Errno::EAGAIN) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io("recv", e)),
            }
            let d = deadline.get_or_insert_with(|| Deadline::new(timeout));
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
            wait_fd(self.rx.as_fd(), PollFlags::POLLIN, slice).map_err(|e| io("poll", e))?;
        }
    }
}

impl SocketChannel {
    /// This endpoint's receiving socket ([`crate::Readiness`]).
    pub(crate) fn rx_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rx.as_fd()
    }
}
