//! Listening sockets with the backlog zeus wants (std's `TcpListener::bind` always asks for
//! 128, too short for a burst of new connections; nginx asks for 511 on Linux).

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;

use nix::sys::socket::{bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog};
use nix::sys::socket::{SockFlag, SockType, SockaddrStorage};

/// Connections the kernel queues per listener before `accept` (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 511;

/// A non-blocking, close-on-exec TCP listener on `addr` with `SO_REUSEADDR` (as std sets it).
pub fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(family, SockType::Stream, flags, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    listen(&fd, Backlog::new(LISTEN_BACKLOG)?)?;
    Ok(TcpListener::from(fd))
}
