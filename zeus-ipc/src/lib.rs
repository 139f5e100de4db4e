//! zeus-ipc: message channels between a scheduler (the *hub*) and its workers, across `fork`
//! and between threads, behind one trait, [`Channel`], with four adapters.
//!
//! ```text
//!            hub (scheduler)                         workers
//!   create() ── mailbox 0 ◄──────── send(HUB, …) ── mailbox 1  (endpoint(1), made before fork)
//!               send(n, …) ───────────────────────► mailbox n  (endpoint(n))
//! ```
//!
//! # The contract (details in [`channel`])
//!
//! - Messages keep their boundaries and, per sender, their order; up to
//!   [`Channel::max_message_size`] bytes arrive whole, larger ones are refused with
//!   [`SendError::TooLarge`], never cut.
//! - Many senders → one mailbox (workers → hub) and one sender → a chosen mailbox (hub →
//!   worker *n*).
//! - `recv`/`send` take a timeout (zero: `try_recv`/`try_send`); a full mailbox pushes back
//!   with `Full`/`Timeout`, memory never grows without bound.
//! - Handles are made before `fork` and used after it in parent and child, and shared between
//!   threads (`Send + Sync`, `&self` methods).
//! - A worker learns of the hub's death within [`LIVENESS_PERIOD`]; the hub learns of a
//!   worker's death when sending to it would wait. Nothing blocks forever.
//! - Every OS object is named `zeus.<instance>.<scope>…`, removed when its creator drops the
//!   hub handle, and [`name::list`]/[`name::purge`] find and remove a crashed instance's.
//!
//! # Adapters
//!
//! | [`IpcAdapter`] | module     | mechanism                                   | max message            | peer death seen by              |
//! |----------------|------------|---------------------------------------------|------------------------|---------------------------------|
//! | `mmap`         | [`mmap`]   | ring per mailbox in `/dev/shm`, futex wake   | any (one slot each)    | pid in the segment header        |
//! | `socket`       | [`socket`] | Unix datagram socket per mailbox (and the control socket's [`socket::ServiceSocket`]) | capacity (`SO_SNDBUF`) | `ECONNREFUSED`, pid |
//! | `fifo`         | [`fifo`]   | named pipe per mailbox, length-prefixed     | 4092 (`PIPE_BUF` − 4)  | EOF, `EPIPE`, pid                |
//! | `sysv`         | [`sysv`]   | 2 message queues (type = mailbox), futex wake | `kernel.msgmax`     | semaphore `GETPID`, `EIDRM`      |
//!
//! # `auto`
//!
//! [`IpcAdapter::Auto`] (the default `ipc_adapter`) tries [`IpcAdapter::AUTO_ORDER`] (mmap,
//! by far the fastest, then socket, fifo, sysv by how few limits they have: message size,
//! kernel queue limits; numbers in `benches/README.md`) and keeps the first whose creation
//! succeeds. It moves on only when the
//! platform refuses the mechanism (no `/dev/shm`, `ENOSYS`, `EACCES`, a kernel limit below the
//! request, a socket path too long), not when the request itself is wrong (a taken name, bad
//! options). [`Channel::adapter`] tells which one was chosen.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use zeus_ipc::{Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox};
//!
//! let name = IpcName::new(&format!("doc{}", std::process::id()), "example")?;
//! let hub = IpcAdapter::Auto.create(&name, &ChannelOptions::default())?;
//! let worker = hub.endpoint(Mailbox::new(1))?; // made before forking worker 1
//! worker.send(Mailbox::HUB, b"started", Duration::from_secs(1))?;
//! let mut buf = [0u8; 64];
//! let len = hub.recv(&mut buf, Duration::from_secs(1))?;
//! assert_eq!(&buf[..len], b"started");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! All `unsafe` code is in `sys.rs`.
#![warn(missing_docs)]

mod any;
pub mod channel;
mod deadline;
pub mod error;
pub mod fifo;
pub mod mmap;
pub mod name;
mod ready;
pub mod socket;
mod spin;
mod sys;
pub mod sysv;

pub use any::AnyChannel;
pub use channel::{
    Channel, ChannelOptions, IpcAdapter, Mailbox, UnknownAdapter, DEFAULT_MAX_MESSAGE, MAX_WORKERS,
};
pub use deadline::LIVENESS_PERIOD;
pub use error::{CreateError, ListError, NameError, OpenError, RecvError, SendError};
pub use fifo::FifoChannel;
pub use mmap::MmapChannel;
pub use name::IpcName;
pub use ready::{Readiness, Wait};
pub use socket::SocketChannel;
pub use sysv::SysvChannel;
