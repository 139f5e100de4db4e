//! zeus-http: the HTTP/1.1 service (service adapter `http`).
//!
//! ```text
//!   Http (registration: handlers by name) ──► HttpService (one per configured service)
//!   worker: server::Loop ─ epoll ─► conn::Conn ─► request::parse_head / body ─► handler::Router
//!                                                       ├─ status_page (loopback only)
//!                                                       ├─ mounted Handlers (Rust apps)
//!                                                       └─ files::StaticFiles | welcome::Welcome
//! ```
//!
//! - `server`: the per-worker event loop and why it multiplexes connections;
//! - `conn`: one connection's state machine (ordering, deadlines); `output`: its outgoing
//!   bytes (buffer, then a file by `sendfile(2)` or a streamed body, chunked);
//! - `request`, `body`, `response`, `error`: the protocol (RFC 9110 / 9112);
//! - `files`: static files confined to `document_root`; `welcome`: the bundled site;
//! - `handler`: the `Handler` trait for Rust applications; `status_page`; `access_log`.
//!
//! No `unsafe` here (so no `sys` module): nix's safe `openat2`, `sendfile`, `send` and
//! `setsockopt` cover every system call this crate makes beyond std.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod access_log;
pub mod body;
pub mod conn;
pub mod error;
pub mod files;
pub mod handler;
pub mod output;
pub mod request;
pub mod response;
pub mod server;
pub mod settings;
pub mod status_page;
pub mod welcome;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use access_log::{AccessLogger, Entry};
pub use error::HttpError;
pub use handler::{Handler, Router};
pub use request::Request;
pub use response::{Body, Response};
pub use server::HttpService;
pub use settings::{HttpConfig, HttpSettings};

use zeus_core::config::ConfigErrors;
use zeus_core::service::{Service, Settings};
use zeus_core::Zeus;

/// zeus-http's part of the embedded default configuration: `zeus_httpd` on 127.0.0.1:7070,
/// serving the welcome site and the status page (`Zeus::add_default_services`).
pub const DEFAULT_SERVICES: &str = include_str!("default.toml");

/// The `http` adapter, with the handlers that configuration can mount by name and the
/// access loggers it can name in `logger_adapter`.
#[derive(Clone, Default)]
pub struct Http {
    handlers: BTreeMap<String, Arc<dyn Handler>>,
    loggers: BTreeMap<String, Arc<dyn AccessLogger>>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .field("loggers", &self.loggers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Http {
    /// No handlers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a handler, usable in `mounts` as `"/prefix" = "name"`.
    pub fn handler(mut self, name: &str, handler: Arc<dyn Handler>) -> Self {
        self.handlers.insert(name.to_string(), handler);
        self
    }

    /// Adds an access logger, usable as `logger_adapter = "name"` (not `file` or `zeus`,
    /// which are built in and win).
    pub fn access_logger(mut self, name: &str, logger: Arc<dyn AccessLogger>) -> Self {
        self.loggers.insert(name.to_string(), logger);
        self
    }

    /// Registers service adapter `http` with these handlers and loggers.
    pub fn register(self, zeus: &mut Zeus) {
        zeus.register_service("http", move |s| {
            Ok(Arc::new(self.build(s)?) as Arc<dyn Service>)
        });
    }

    /// Validates `service_settings` and builds the service.
    pub fn build(&self, s: &Settings<'_>) -> Result<HttpService, ConfigErrors> {
        let names: Vec<String> = self.handlers.keys().cloned().collect();
        let loggers: Vec<String> = self.loggers.keys().cloned().collect();
        let cfg = HttpConfig::from_settings(s, &names, &loggers)?;
        let st = &cfg.settings;
        let site: Arc<dyn Handler> = match &cfg.root {
            Some(root) => Arc::new(files::StaticFiles::new(
                root.clone(),
                st.index.clone(),
                st.blocked_file_types.clone(),
                st.allow_symlinks_outside_root,
                st.sendfile_min_bytes,
                cfg.file_cache,
            )),
            None => Arc::new(welcome::Welcome),
        };
        let mounts = st
            .mounts
            .iter()
            .map(|(prefix, name)| (prefix.clone(), self.handlers[name].clone()))
            .collect();
        let status = Some(st.status_path.clone()).filter(|p| !p.is_empty());
        let router = Router::new(site, mounts, status);
        let custom = self.loggers.get(&st.logger_adapter).cloned();
        Ok(HttpService::new(cfg, router).with_logger(custom))
    }
}
