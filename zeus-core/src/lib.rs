//! zeus-core: the runtime behind the `zeus` command.
//!
//! ```text
//!  zeus start ──> manager (single-threaded; binds listeners, control socket, pid lock)
//!                   │ fork, one per service (own process group, dies with the manager)
//!                   ▼
//!                 scheduler (owns the service's scoreboard in /dev/shm; plans the pool)
//!                   │ MPM: `process` forks one worker per slot      ▲ channel (`ipc_adapter`):
//!                   ▼                                              │ reports, log lines ↑
//!                 worker ── Service::serve(WorkerCtx) ── accept → task → accept …  commands ↓
//!
//!  zeus status ──> reads the scoreboards directly (works while the manager is busy)
//!  zeus stop / list ──> control socket (JSON lines) in the run dir
//! ```
//!
//! Plug points are traits: [`service::Service`] (what a worker runs), [`mpm::Mpm`] (how
//! workers run), [`discipline::Discipline`] (which idle worker ends), [`plugin::Plugin`] (what
//! listens to the life-cycle [`event::Event`]s of the manager, a scheduler or its workers).
//! Configuration is typed and layered ([`config`]); every error names its key, value and layer.
#![warn(missing_docs)]

mod app;
pub mod clock;
pub mod config;
pub mod discipline;
pub mod error;
pub mod event;
pub mod ipc;
pub mod logging;
pub mod manager;
pub mod mpm;
pub mod plugin;
pub mod registry;
pub mod scheduler;
pub mod scoreboard;
pub mod service;
pub mod status;
mod sys;
pub mod worker;

pub use app::{run_dir, Prepared, PreparedService, Zeus};
pub use error::CoreError;
