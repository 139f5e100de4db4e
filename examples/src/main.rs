//! `zeus-custom`: a zeus binary of a Rust user's own. It keeps every built-in and adds, by
//! name, what the configuration can then refer to:
//! - service `uppercase`: like `echo`, but answers each line in upper case;
//! - service `crashy`: every worker dies at start (shows the growing replacement delay);
//! - service `leaky`: answers `ok` and keeps `leak_bytes` of memory per task on purpose, to
//!   show `max_process_memory` recycling its workers;
//! - discipline `newest_first`: ends the most recently active idle worker first (the opposite
//!   of `lru`);
//! - plugin `worker_cap` (option `max_workers`): vetoes worker creation beyond a cap;
//! - handler `json_api` (a small JSON API) for zeus-http's `http` adapter, mountable with
//!   `mounts = { "/api" = "json_api" }`;
//! - access logger `json_log` for the same adapter (`logger_adapter = "json_log"`): JSON lines.
//!
//! The command line, configuration layers and exit codes are zeus's own (`zeus_cli::run`).

mod crashy;
mod json_api;
mod json_log;
mod leaky;
mod newest_first;
mod uppercase;
mod worker_cap;

use std::process::ExitCode;
use std::sync::Arc;

use zeus_core::service::Service;

fn main() -> ExitCode {
    let mut zeus = zeus_cli::zeus();
    zeus.register_service("uppercase", |s| {
        Ok(Arc::new(uppercase::Uppercase::from_settings(s)?) as Arc<dyn Service>)
    })
    .register_service("crashy", |s| {
        Ok(Arc::new(crashy::Crashy::from_settings(s)?) as Arc<dyn Service>)
    })
    .register_service("leaky", |s| {
        Ok(Arc::new(leaky::Leaky::from_settings(s)?) as Arc<dyn Service>)
    })
    .register_discipline("newest_first", || Box::new(newest_first::NewestFirst))
    .register_plugin("worker_cap", worker_cap::WorkerCap::from_options);
    // `zeus_cli::zeus()` has `http` without handlers; this replaces it with one that has ours.
    zeus_http::Http::new()
        .handler("json_api", Arc::new(json_api::JsonApi))
        .access_logger("json_log", Arc::new(json_log::JsonLog))
        .register(&mut zeus);
    zeus_cli::run(&zeus)
}
