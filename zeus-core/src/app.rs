//! The library entry point: a `Zeus` holds the registries (built-in and user services) and
//! turns command-line options into a prepared, fully validated instance.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use figment::Figment;

use crate::config::{
    self, ConfigError, ConfigErrors, ConfigOptions, Entry, LoadedConfig, Registries,
};
use crate::config::{SchedulerConfig, ServiceConfig};
use crate::discipline::Discipline;
use crate::error::CoreError;
use crate::manager::{self, RunDir};
use crate::mpm::Mpm;
use crate::plugin::{Plugin, PluginOptions};
use crate::registry::Catalog;
use crate::service::{Service, Settings};

/// A zeus runtime with its registries; the CLI and Rust users start here.
#[derive(Debug, Clone)]
pub struct Zeus {
    catalog: Catalog,
}

impl Default for Zeus {
    fn default() -> Self {
        Self::new()
    }
}

/// A configuration loaded, validated and turned into service objects, before anything runs.
pub struct Prepared {
    /// The configuration and its layers.
    pub loaded: LoadedConfig,
    /// Every configured service, in name order.
    pub services: Vec<PreparedService>,
    /// The instance's run directory.
    pub run_dir: RunDir,
    /// The options it was loaded with (reload uses them again).
    pub options: ConfigOptions,
}

/// One configured service, ready to run.
pub struct PreparedService {
    /// Service name.
    pub name: String,
    /// Its `[services.NAME]` section.
    pub config: ServiceConfig,
    /// Its scheduler's section.
    pub scheduler: SchedulerConfig,
    /// The service object built by its adapter.
    pub service: Arc<dyn Service>,
    /// Effective `service_settings`, as the adapter read them.
    pub settings: serde_json::Value,
}

impl Prepared {
    /// `zeus list` entries for all services, or for one.
    pub fn entries(&self, only: Option<&str>) -> Vec<Entry> {
        let settings: BTreeMap<String, serde_json::Value> = self
            .services
            .iter()
            .map(|s| (s.name.clone(), s.settings.clone()))
            .collect();
        config::effective_entries(&self.loaded, &settings, only)
    }

    /// The figment, for errors that must name a key's layer.
    pub fn figment(&self) -> &Figment {
        &self.loaded.figment
    }

    /// Checks that `service` is configured.
    pub fn check_service(&self, service: &str) -> Result<(), ConfigErrors> {
        if self.services.iter().any(|s| s.name == service) {
            return Ok(());
        }
        let known: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        Err(ConfigError {
            key: "services".into(),
            value: Some(format!("{service:?}")),
            layer: "command line".into(),
            problem: "no service of that name is configured".into(),
            allowed: Some(known.join(", ")),
        }
        .into())
    }
}

impl Zeus {
    /// A runtime with the built-ins (see `Catalog::with_builtins`).
    pub fn new() -> Self {
        Self {
            catalog: Catalog::with_builtins(),
        }
    }

    /// Registers a service adapter, usable as `service_adapter = "name"`.
    pub fn register_service<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&Settings<'_>) -> Result<Arc<dyn Service>, ConfigErrors> + Send + Sync + 'static,
    {
        self.catalog.services.insert(name, Arc::new(factory));
        self
    }

    /// Adds a service set (TOML: `[schedulers.*]` and `[services.*]`) to the embedded default
    /// configuration, used only when no configuration file is found; for adapters registered
    /// by the binary (the `zeus` binary adds zeus-http's `zeus_httpd`).
    pub fn add_default_services(&mut self, toml: &'static str) -> &mut Self {
        self.catalog.default_services.push(toml);
        self
    }

    /// Registers an MPM, usable as `multiprocessing_module = "name"`.
    pub fn register_mpm<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&SchedulerConfig) -> Result<Box<dyn Mpm>, CoreError> + Send + Sync + 'static,
    {
        self.catalog.mpms.insert(name, Arc::new(factory));
        self
    }

    /// Registers a discipline, usable as `scheduler_discipline = "name"`.
    pub fn register_discipline<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn() -> Box<dyn Discipline> + Send + Sync + 'static,
    {
        self.catalog.disciplines.insert(name, Arc::new(factory));
        self
    }

    /// Registers a plugin, usable by name in `manager.plugins` and `schedulers.NAME.plugins`.
    /// The factory validates the entry's options (its table minus `name`); see `plugin`.
    pub fn register_plugin<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&PluginOptions) -> Result<Box<dyn Plugin>, ConfigErrors> + Send + Sync + 'static,
    {
        self.catalog.plugins.insert(name, Arc::new(factory));
        self
    }

    /// The registries, shared with schedulers.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The names every pluggable setting accepts.
    pub fn registries(&self) -> Registries {
        registries(&self.catalog)
    }

    /// Loads and validates the configuration and builds every service (nothing is started).
    pub fn prepare(&self, opts: &ConfigOptions) -> Result<Prepared, ConfigErrors> {
        prepare_with(&self.catalog, opts)
    }

    /// Runs the manager in the foreground until stopped: all `auto_start` services, or `only`.
    pub fn start(&self, opts: &ConfigOptions, only: Option<&str>) -> Result<(), CoreError> {
        let prepared = self.prepare(opts)?;
        manager::run(prepared, Arc::new(self.catalog.clone()), only)
    }
}

/// The run directory the options point at, even when the rest of the configuration is broken
/// (so `zeus stop` still reaches an instance whose config file was edited since).
pub fn run_dir(opts: &ConfigOptions) -> RunDir {
    let dir: Option<PathBuf> = config::run_dir_only(opts);
    RunDir::resolve(dir.as_deref())
}

/// `Zeus::prepare` with an explicit catalog (the manager re-prepares on reload).
pub(crate) fn prepare_with(
    catalog: &Catalog,
    opts: &ConfigOptions,
) -> Result<Prepared, ConfigErrors> {
    let loaded = config::load(opts, &registries(catalog), &catalog.default_services)?;
    let mut services = Vec::new();
    let mut errs = Vec::new();
    for (name, cfg) in &loaded.config.services {
        let scheduler = &loaded.config.schedulers[&cfg.scheduler_name];
        let settings =
            Settings::new(&loaded.figment, name).with_mpm(&scheduler.multiprocessing_module);
        let factory = catalog
            .services
            .get(&cfg.service_adapter)
            .expect("invariant: validated adapter");
        match factory(&settings) {
            Ok(service) => services.push(PreparedService {
                name: name.clone(),
                config: cfg.clone(),
                scheduler: scheduler.clone(),
                service,
                settings: settings.effective().unwrap_or(serde_json::Value::Null),
            }),
            Err(e) => errs.extend(e.0),
        }
    }
    // Plugin options are checked now, before anything starts (a bad one refuses the start).
    errs.extend(crate::plugin::check_config(catalog, &loaded));
    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    let run_dir = RunDir::resolve(loaded.config.run_dir.as_deref());
    Ok(Prepared {
        loaded,
        services,
        run_dir,
        options: opts.clone(),
    })
}

fn registries(catalog: &Catalog) -> Registries {
    Registries {
        services: catalog.services.names(),
        mpms: catalog.mpms.names(),
        disciplines: catalog.disciplines.names(),
        ipc_adapters: std::iter::once(zeus_ipc::IpcAdapter::Auto)
            .chain(zeus_ipc::IpcAdapter::AUTO_ORDER)
            .map(|a| a.as_str().to_owned())
            .collect(),
        loggers: vec!["default".into()],
        plugins: catalog.plugins.names(),
    }
}
