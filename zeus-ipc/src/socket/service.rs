//! Requests and replies over the adapter's datagram sockets, for a service that answers
//! clients it did not fork: zeus's control socket (`zeus stop`, `list`, `reload`, ...).
//!
//! - The service binds one datagram socket at a path (mode 0600: only its user may send to
//!   it), owned by the process that bound it and removed when it drops it.
//! - A client binds an unnamed socket (the kernel gives it a unique abstract address), sends
//!   one request datagram and waits for one reply.
//! - A request arrives whole or not at all: the service reads it without blocking, never
//!   waits for a slow client, and keeps no state per client but the address to answer.
//! - Each reply leaves from a socket of its own, closed once the datagram is queued, without
//!   blocking. A datagram waiting in a receiver's queue is charged to the send buffer of the
//!   socket that sent it: through one shared socket, clients that ask and never read would
//!   fill that buffer and stop every later reply. This way a client that left, stopped
//!   reading or filled its queue loses only its own replies, and the service no time.
//! - The client takes the reply only from a process of the user that owns the service's
//!   socket file (the kernel's `SCM_CREDENTIALS` of the datagram): nobody else can answer
//!   in the service's place.
//! - The largest reply is what one datagram may carry (`net.core.wmem_max` minus a little);
//!   a larger one is refused with [`ReplyError::TooLarge`].

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, recvmsg, sendto, setsockopt, sockopt, ControlMessageOwned, MsgFlags, UnixAddr,
};
use nix::sys::time::TimeVal;

use super::datagram_socket;
use crate::name::OwnedFiles;
use crate::sys;

/// What one datagram may carry besides the kernel's bookkeeping of it.
fn max_datagram() -> usize {
    sys::kernel_limit("net/core/wmem_max")
        .unwrap_or(212_992)
        .saturating_sub(1024)
}

/// Where to send the reply to one request.
#[derive(Debug, Clone)]
pub struct ReplyTo(UnixAddr);

/// One request read by [`ServiceSocket::next_request`].
#[derive(Debug)]
pub struct Request {
    /// Bytes read into the caller's buffer.
    pub len: usize,
    /// The datagram was longer than the buffer, and was cut.
    pub truncated: bool,
    /// Where to reply.
    pub from: ReplyTo,
}

/// Why a reply was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The reply is longer than one datagram may be here.
    #[error("the reply is {len} bytes, more than the {max} one datagram may carry")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest datagram (`net.core.wmem_max` minus a little).
        max: usize,
    },
    /// The client is gone, or its queue is full.
    #[error("the client did not take the reply: {0}")]
    NotTaken(#[source] std::io::Error),
}

/// A service's socket: see the [`socket` module docs](crate::socket).
#[derive(Debug)]
pub struct ServiceSocket {
    fd: OwnedFd,
    max_reply: usize,
    _owner: OwnedFiles,
}

impl ServiceSocket {
    /// Binds a non-blocking datagram socket at `path` (which must not exist), that only our
    /// user may send to; the file is removed when this is dropped.
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let addr = UnixAddr::new(path)?;
        let fd = datagram_socket(true)?;
        bind(fd.as_raw_fd(), &addr)?;
        let owner = OwnedFiles::new(vec![path.to_path_buf()]);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            fd,
            max_reply: max_datagram(),
            _owner: owner,
        })
    }

    /// The next waiting request, read into `buf` without blocking; `None` when none waits.
    /// A request from a client that cannot be answered (it did not bind) is dropped.
    pub fn next_request(&self, buf: &mut [u8]) -> std::io::Result<Option<Request>> {
        loop {
            let mut iov = [std::io::IoSliceMut::new(buf)];
            let got = recvmsg::<UnixAddr>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty());
            return match got {
                Ok(msg) => match msg.address.filter(|a| !a.is_unnamed()) {
                    Some(from) => Ok(Some(Request {
                        len: msg.bytes,
                        truncated: msg.flags.contains(MsgFlags::MSG_TRUNC),
                        from: ReplyTo(from),
                    })),
                    None => continue,
                },
                Err(Errno::EAGAIN) => Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(e.into()),
            };
        }
    }

    /// Sends `reply` to `to` from a socket of its own (see the module docs), without
    /// blocking.
    pub fn reply(&self, to: &ReplyTo, reply: &[u8]) -> Result<(), ReplyError> {
        if reply.len() > self.max_reply {
            return Err(ReplyError::TooLarge {
                len: reply.len(),
                max: self.max_reply,
            });
        }
        let not_taken = |e: Errno| ReplyError::NotTaken(e.into());
        let out = datagram_socket(true).map_err(not_taken)?;
        // Room for this one datagram (the kernel caps it at `wmem_max`).
        setsockopt(&out, sockopt::SndBuf, &(reply.len() + 1024)).map_err(not_taken)?;
        loop {
            return match sendto(out.as_raw_fd(), reply, &to.0, MsgFlags::MSG_DONTWAIT) {
                Ok(_) => Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => Err(not_taken(e)),
            };
        }
    }

    /// The largest reply [`ServiceSocket::reply`] sends.
    pub fn max_reply(&self) -> usize {
        self.max_reply
    }
}

impl AsFd for ServiceSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends `req` to the service bound at `path` and waits up to `timeout` for its reply (a
/// datagram from a process of the user owning `path`; others are dropped).
pub fn request(path: &Path, req: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let service = UnixAddr::new(path)?;
    let owner = std::fs::metadata(path)?.uid();
    let fd = datagram_socket(false)?;
    setsockopt(&fd, sockopt::PassCred, &true)?;
    // Autobind: a unique abstract address the service can answer.
    bind(fd.as_raw_fd(), &UnixAddr::new_unnamed())?;
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no reply from {} within {timeout:?}", path.display()),
                )
            })
    };
    let wait = |d: Duration| {
        let tv = TimeVal::new(
            d.as_secs().try_into().unwrap_or(i64::MAX),
            d.subsec_micros().max(1).into(),
        );
        setsockopt(&fd, sockopt::ReceiveTimeout, &tv).and(setsockopt(
            &fd,
            sockopt::SendTimeout,
            &tv,
        ))
    };
    wait(left()?)?;
    retry(|| sendto(fd.as_raw_fd(), req, &service, MsgFlags::empty()))?;
    loop {
        wait(left()?)?;
        // The reply's length first (`MSG_TRUNC` gives the whole datagram's), then all of it.
        let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC;
        let len = match retry(|| recv(fd.as_raw_fd(), &mut [0u8; 1], peek)) {
            Ok(len) => len,
            Err(Errno::EAGAIN) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut reply = vec![0; len];
        let mut space = nix::cmsg_space!(libc::ucred);
        let mut iov = [std::io::IoSliceMut::new(&mut reply)];
        let msg = recvmsg::<UnixAddr>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_DONTWAIT,
        )?;
        let uid = msg.cmsgs()?.find_map(|c| match c {
            ControlMessageOwned::ScmCredentials(cred) => Some(cred.uid()),
            _ => None,
        });
        let got = msg.bytes;
        if uid == Some(owner) {
            reply.truncate(got);
            return Ok(reply);
        }
    }
}

fn retry<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn path(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("zeus-svc-{}-{tag}.sock", std::process::id()))
    }

    /// A service thread answering every request with `size` bytes of its first byte; stopped
    /// (and its socket file removed) when dropped, also when a test fails.
    struct Server {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(svc: ServiceSocket, size: usize) -> Self {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let thread = std::thread::spawn(move || {
                let mut buf = vec![0; 64];
                while !flag.load(Ordering::Relaxed) {
                    match svc.next_request(&mut buf).unwrap() {
                        Some(r) => {
                            let _ = svc.reply(&r.from, &vec![buf[0]; size]);
                        }
                        None => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            });
            Self {
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn a_request_gets_its_reply_and_the_file_goes_with_the_socket() {
        let p = path("round");
        let svc = ServiceSocket::bind(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let server = Server::start(svc, 3);
        let reply = request(&p, b"x", Duration::from_secs(5)).unwrap();
        assert_eq!(reply, b"xxx");
        drop(server);
        assert!(!p.exists(), "removed on drop");
        let gone = request(&p, b"x", Duration::from_millis(100));
        assert!(gone.is_err());
    }

    /// Clients that ask for large replies and never read them hold those replies in their
    /// queues; a later client is still answered (each reply is charged to its own socket).
    #[test]
    fn clients_that_never_read_do_not_stop_later_replies() {
        let p = path("silent");
        let svc = ServiceSocket::bind(&p).unwrap();
        let size = (svc.max_reply() / 2).min(1 << 20);
        let server = Server::start(svc, size);
        // Together more than any one socket's send buffer may hold (`wmem_max`).
        let unread = 2 * max_datagram() / size + 8;
        let mut silent = Vec::new();
        while silent.len() * 8 < unread {
            let c = datagram_socket(true).unwrap();
            bind(c.as_raw_fd(), &UnixAddr::new_unnamed()).unwrap();
            for _ in 0..8 {
                let _ = sendto(
                    c.as_raw_fd(),
                    b"s",
                    &UnixAddr::new(&p).unwrap(),
                    MsgFlags::empty(),
                );
            }
            silent.push(c);
        }
        std::thread::sleep(Duration::from_millis(200));
        let reply = request(&p, b"y", Duration::from_secs(5)).unwrap();
        assert_eq!(reply.len(), size);
        assert!(reply.iter().all(|&b| b == b'y'));
        drop(server);
        drop(silent);
    }

    #[test]
    fn a_reply_above_one_datagram_is_refused() {
        let p = path("large");
        let svc = ServiceSocket::bind(&p).unwrap();
        let to = ReplyTo(UnixAddr::new_abstract(b"zeus-nobody").unwrap());
        let big = vec![0u8; svc.max_reply() + 1];
        assert!(matches!(
            svc.reply(&to, &big),
            Err(ReplyError::TooLarge { .. })
        ));
    }
}
