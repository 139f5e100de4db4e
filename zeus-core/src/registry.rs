//! Named factories for every pluggable concept: services, MPMs, disciplines and plugins. The built-ins
//! are registered by `Catalog::with_builtins`; a Rust user adds their own by name through
//! `Zeus`, and configuration refers to them by that name. The catalog is built before any
//! fork, so schedulers and workers inherit it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{ConfigErrors, SchedulerConfig};
use crate::discipline::{self, Discipline};
use crate::error::CoreError;
use crate::mpm::{self, Mpm};
use crate::plugin::{self, Plugin, PluginOptions};
use crate::service::{EchoService, Service, Settings};

/// Builds a service from its settings (validating them).
pub type ServiceFactory =
    dyn Fn(&Settings<'_>) -> Result<Arc<dyn Service>, ConfigErrors> + Send + Sync;
/// Builds an MPM for a scheduler.
pub type MpmFactory = dyn Fn(&SchedulerConfig) -> Result<Box<dyn Mpm>, CoreError> + Send + Sync;
/// Builds a discipline.
pub type DisciplineFactory = dyn Fn() -> Box<dyn Discipline> + Send + Sync;
/// Builds a plugin from its options (the entry's table minus `name`), validating them; errors
/// name the option's key (`schedulers.web.plugins.1.user`).
pub type PluginFactory =
    dyn Fn(&PluginOptions) -> Result<Box<dyn Plugin>, ConfigErrors> + Send + Sync;

/// Factories of one kind, by name.
pub struct Registry<F: ?Sized> {
    map: BTreeMap<String, Arc<F>>,
}

impl<F: ?Sized> Clone for Registry<F> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
        }
    }
}

impl<F: ?Sized> Default for Registry<F> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

impl<F: ?Sized> std::fmt::Debug for Registry<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.map.keys()).finish()
    }
}

impl<F: ?Sized> Registry<F> {
    /// Adds or replaces `name`.
    pub fn insert(&mut self, name: &str, factory: Arc<F>) {
        self.map.insert(name.to_string(), factory);
    }

    /// The factory registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<F>> {
        self.map.get(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }
}

/// All registries of one runtime.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// `service_adapter` values.
    pub services: Registry<ServiceFactory>,
    /// `multiprocessing_module` values.
    pub mpms: Registry<MpmFactory>,
    /// `scheduler_discipline` values.
    pub disciplines: Registry<DisciplineFactory>,
    /// `plugins` entries.
    pub plugins: Registry<PluginFactory>,
    /// Service sets added to the embedded default configuration (`Zeus::add_default_services`).
    pub default_services: Vec<&'static str>,
}

impl Catalog {
    /// The built-ins: service `echo`; MPMs `process`, `thread`, `hybrid`; disciplines `lru`,
    /// `most_tasks`, `memory`; plugins `process_title`, `drop_privileges`.
    pub fn with_builtins() -> Self {
        let mut c = Self::default();
        c.services.insert(
            "echo",
            Arc::new(|s: &Settings<'_>| {
                Ok(Arc::new(EchoService::from_settings(s)?) as Arc<dyn Service>)
            }),
        );
        c.mpms.insert(
            "process",
            Arc::new(
                |_: &SchedulerConfig| Ok(Box::new(mpm::ProcessMpm::default()) as Box<dyn Mpm>),
            ),
        );
        c.mpms.insert(
            "thread",
            Arc::new(|_: &SchedulerConfig| Ok(Box::new(mpm::ThreadMpm::new()?) as Box<dyn Mpm>)),
        );
        c.mpms.insert(
            "hybrid",
            Arc::new(|cfg: &SchedulerConfig| {
                Ok(Box::new(mpm::HybridMpm::new(cfg.threads_per_process as usize)) as Box<dyn Mpm>)
            }),
        );
        c.disciplines.insert(
            "lru",
            Arc::new(|| Box::new(discipline::Lru) as Box<dyn Discipline>),
        );
        c.disciplines.insert(
            "most_tasks",
            Arc::new(|| Box::new(discipline::MostTasks) as Box<dyn Discipline>),
        );
        c.disciplines.insert(
            "memory",
            Arc::new(|| Box::new(discipline::Memory) as Box<dyn Discipline>),
        );
        c.plugins.insert(
            "process_title",
            Arc::new(|o: &PluginOptions| {
                Ok(Box::new(plugin::ProcessTitle::from_options(o)?) as Box<dyn Plugin>)
            }),
        );
        c.plugins.insert(
            "drop_privileges",
            Arc::new(|o: &PluginOptions| {
                Ok(Box::new(plugin::DropPrivileges::from_options(o)?) as Box<dyn Plugin>)
            }),
        );
        c
    }
}
