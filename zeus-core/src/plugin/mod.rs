//! Plugins: code that listens to life-cycle events (`event::Event`), configured by name in
//! `manager.plugins` or `schedulers.NAME.plugins`, in order. A plugin entry is a bare name or
//! a table with `name` and its options:
//! `plugins = ["process_title", { name = "drop_privileges", user = "nobody" }]`.
//!
//! Contract:
//! - a plugin is built by its factory (`registry::PluginFactory`) from its options; the
//!   factory validates them when the configuration is prepared, before anything starts, and a
//!   refusal names the key (`schedulers.web.plugins.1.user`) and stops the start (exit 2). The
//!   factory runs again in the processes that use the plugin, so it must be cheap,
//!   deterministic and free of side effects; effects belong in `on_event`;
//! - instances: a manager plugin has one instance in the manager (manager events). A
//!   scheduler plugin has one in the scheduler process (scheduler events) and one for the
//!   worker side, built once in the scheduler before it forks: each `process` worker and
//!   each `hybrid` child owns a pristine copy (per process; a hybrid child's threads share
//!   it), and the `thread` MPM's worker threads share one in the scheduler process, apart
//!   from the scheduler's own instance;
//! - an instance receives one event at a time (worker threads sharing it take a mutex);
//! - `on_event` is on the hot path for `WorkerWaiting` and `WorkerRunning` (twice per task):
//!   there it must not allocate, block or make a system call;
//! - an `Err` refuses a vetoable event (`Event::vetoable`); on any other event it is logged.
//!
//! Built in: `process_title` and `drop_privileges` (see their modules).

mod bus;
mod drop_privileges;
mod host;
mod options;
mod process_title;
mod set;

pub use bus::{EventBus, Veto};
pub use drop_privileges::DropPrivileges;
pub(crate) use host::WorkerPlugins;
pub use options::{PluginOptions, Section};
pub use process_title::ProcessTitle;
pub use set::PluginSet;
pub(crate) use set::{check_config, for_manager, for_scheduler};

use std::path::{Path, PathBuf};

use crate::event::Event;
use crate::mpm::Capabilities;
pub use crate::sys::{CredsError, TitleError};

/// Something that listens to events.
pub trait Plugin: Send {
    /// The name it is registered under.
    fn name(&self) -> &str;

    /// Called for each event of its scope; an `Err` refuses a vetoable event.
    fn on_event(&mut self, _event: &Event, _ctx: &Ctx) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Why a plugin refused an event or failed on one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin refuses what a vetoable event announces.
    #[error("{0}")]
    Refused(String),
    /// Credentials could not be switched.
    #[error(transparent)]
    Creds(#[from] CredsError),
    /// The process title could not be set.
    #[error(transparent)]
    Title(#[from] TitleError),
    /// A plugin's own error.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Which processes an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The manager.
    Manager,
    /// A service's scheduler.
    Scheduler,
    /// A service's workers.
    Worker,
}

/// What a plugin knows of where it runs.
#[derive(Debug, Clone)]
pub struct Ctx {
    scope: Scope,
    service: Option<String>,
    caps: Option<Capabilities>,
    owned_files: Vec<PathBuf>,
}

impl Ctx {
    /// The manager's context.
    pub fn manager() -> Self {
        Self {
            scope: Scope::Manager,
            service: None,
            caps: None,
            owned_files: Vec::new(),
        }
    }

    /// A scheduler's context.
    pub fn scheduler(service: &str, caps: Option<Capabilities>) -> Self {
        Self {
            scope: Scope::Scheduler,
            service: Some(service.to_string()),
            caps,
            owned_files: Vec::new(),
        }
    }

    /// The workers' context; `owned_files` are files this process created and must still
    /// remove after a privilege drop (the `thread` scheduler's scoreboard).
    pub fn worker(service: &str, caps: Option<Capabilities>, owned_files: Vec<PathBuf>) -> Self {
        Self {
            scope: Scope::Worker,
            service: Some(service.to_string()),
            caps,
            owned_files,
        }
    }

    /// Which events this context receives.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The service (none for the manager).
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// What the service's MPM does: whether workers have processes of their own (`forks`)
    /// and whether they are threads (none for the manager).
    pub fn capabilities(&self) -> Option<Capabilities> {
        self.caps
    }

    /// Files this process must keep the right to remove.
    pub fn owned_files(&self) -> impl Iterator<Item = &Path> {
        self.owned_files.iter().map(PathBuf::as_path)
    }
}
