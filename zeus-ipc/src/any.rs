//! [`AnyChannel`]: the adapter chosen at run time (`ipc_adapter` in the configuration),
//! dispatched statically over the four adapters, and the `auto` choice.

use std::time::Duration;

use crate::channel::{Channel, ChannelOptions, IpcAdapter, Mailbox};
use crate::error::{CreateError, OpenError, RecvError, SendError};
use crate::fifo::FifoChannel;
use crate::mmap::MmapChannel;
use crate::name::IpcName;
use crate::socket::SocketChannel;
use crate::sysv::SysvChannel;

/// A channel of any adapter; what [`IpcAdapter::create`] returns.
#[derive(Debug)]
pub enum AnyChannel {
    /// Named pipes.
    Fifo(FifoChannel),
    /// System V message queues.
    Sysv(SysvChannel),
    /// Shared-memory rings.
    Mmap(MmapChannel),
    /// Unix datagram sockets.
    Socket(SocketChannel),
}

macro_rules! dispatch {
    ($self:expr, $chan:ident => $body:expr) => {
        match $self {
            AnyChannel::Fifo($chan) => $body,
            AnyChannel::Sysv($chan) => $body,
            AnyChannel::Mmap($chan) => $body,
            AnyChannel::Socket($chan) => $body,
        }
    };
}

impl AnyChannel {
    /// Creates a channel with `adapter`; [`IpcAdapter::Auto`] tries
    /// [`IpcAdapter::AUTO_ORDER`] and keeps the first that the platform allows (see the
    /// crate docs).
    pub fn create_with(
        adapter: IpcAdapter,
        name: &IpcName,
        opts: &ChannelOptions,
    ) -> Result<Self, CreateError> {
        match adapter {
            IpcAdapter::Fifo => FifoChannel::create(name, opts).map(Self::Fifo),
            IpcAdapter::Sysv => SysvChannel::create(name, opts).map(Self::Sysv),
            IpcAdapter::Mmap => MmapChannel::create(name, opts).map(Self::Mmap),
            IpcAdapter::Socket => SocketChannel::create(name, opts).map(Self::Socket),
            IpcAdapter::Auto => {
                let mut last = None;
                for candidate in IpcAdapter::AUTO_ORDER {
                    match Self::create_with(candidate, name, opts) {
                        Ok(channel) => return Ok(channel),
                        Err(e) if e.is_platform_refusal() => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                Err(CreateError::NoneAvailable(Box::new(last.expect(
                    "invariant: AUTO_ORDER is not empty, so some error was kept",
                ))))
            }
        }
    }
}

impl Channel for AnyChannel {
    fn create(name: &IpcName, opts: &ChannelOptions) -> Result<Self, CreateError> {
        Self::create_with(IpcAdapter::Auto, name, opts)
    }

    fn endpoint(&self, mailbox: Mailbox) -> Result<Self, OpenError> {
        Ok(match self {
            AnyChannel::Fifo(c) => AnyChannel::Fifo(c.endpoint(mailbox)?),
            AnyChannel::Sysv(c) => AnyChannel::Sysv(c.endpoint(mailbox)?),
            AnyChannel::Mmap(c) => AnyChannel::Mmap(c.endpoint(mailbox)?),
            AnyChannel::Socket(c) => AnyChannel::Socket(c.endpoint(mailbox)?),
        })
    }

    fn adapter(&self) -> IpcAdapter {
        dispatch!(self, c => c.adapter())
    }

    fn mailbox(&self) -> Mailbox {
        dispatch!(self, c => c.mailbox())
    }

    fn workers(&self) -> u32 {
        dispatch!(self, c => c.workers())
    }

    fn max_message_size(&self) -> usize {
        dispatch!(self, c => c.max_message_size())
    }

    #[inline]
    fn send(&self, to: Mailbox, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        dispatch!(self, c => c.send(to, msg, timeout))
    }

    #[inline]
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, RecvError> {
        dispatch!(self, c => c.recv(buf, timeout))
    }

    fn grant(&self, uid: u32, gid: u32) -> std::io::Result<()> {
        dispatch!(self, c => c.grant(uid, gid))
    }
}
