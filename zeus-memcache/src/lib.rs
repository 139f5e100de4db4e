//! zeus-memcache: memcached's text protocol (classic and meta commands) served by zeus
//! workers over one shared-memory store, so every worker (process or thread) sees the same
//! cache.
//!
//! ```text
//! zeus manager ── factory ──▶ MemcacheService { Store (MAP_SHARED, created here, before fork) }
//!      │ fork
//!      ▼
//! scheduler ── fork ──▶ worker 1 ─┐ epoll over listener + clients
//!                  └──▶ worker N ─┴─▶ protocol::step ─▶ Store (striped robust mutexes)
//! ```
//!
//! Layout: `protocol/` (one file per command family), `store/` (segment layout, shards,
//! statistics, the backends behind the per-key `Item` seam: `shm`, `memory`, `filesystem` in
//! `store/fs/`), `server/` (the `Service` and connections), `sys` (the crate's only unsafe).
//! Register it with `zeus.register_service("memcache", zeus_memcache::factory)`.

#![warn(missing_docs)]

pub mod error;
pub mod number;
pub mod protocol;
pub mod server;
pub mod settings;
pub mod store;
mod sys;

use std::sync::Arc;

use zeus_core::config::ConfigErrors;
use zeus_core::service::{Service, Settings};

pub use error::{MemcacheError, StoreError};
pub use server::MemcacheService;

/// The `memcache` service adapter's factory.
pub fn factory(s: &Settings<'_>) -> Result<Arc<dyn Service>, ConfigErrors> {
    Ok(Arc::new(MemcacheService::from_settings(s)?))
}
