//! The `Service` trait and the registry of service adapters (`service_adapter` in config).
//!
//! Contract for a service:
//! - it declares its listeners; zeus binds them before any worker exists, so a bind error
//!   refuses the start and every worker shares the same sockets;
//! - `serve` runs one worker's task loop and reports through the `WorkerCtx`: `accept` waits
//!   (WAITING) and returns `None` when the worker must end (stop requested, or
//!   `max_process_tasks` reached); a `Task` guard marks RUNNING and counts the task;
//! - it must not know which MPM runs it: no `fork`, no signal handlers, no process exit;
//!   everything it needs comes through `WorkerCtx`;
//! - it never panics on input; a panic ends the worker (which the scheduler replaces).

mod echo;
mod settings;

pub use echo::EchoService;
pub use settings::Settings;

use crate::worker::WorkerCtx;
use std::net::SocketAddr;

/// A network service run by zeus workers.
pub trait Service: Send + Sync {
    /// Sockets to bind before the workers start.
    fn listeners(&self) -> Vec<ListenSpec>;

    /// One worker's task loop; returns when `ctx.accept` says to stop.
    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> std::io::Result<()>;
}

/// A TCP listener a service wants, and the config key that chose its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// Address to bind.
    pub addr: SocketAddr,
    /// Key blamed when binding fails, e.g. `services.echo.service_settings.listen_port`.
    pub key: String,
}
