//! A configured plugin list: factories from the catalog paired with their options, built into
//! instances once per process that needs them; the check `prepare` runs; and the buses of the
//! manager and of a scheduler.

use std::path::Path;
use std::sync::Arc;

use super::{Ctx, Plugin, PluginOptions, Section, WorkerPlugins};
use crate::config::{ConfigError, ConfigErrors, LoadedConfig, PluginSpec};
use crate::event::EventBus;
use crate::mpm::Capabilities;
use crate::registry::{Catalog, PluginFactory};

/// Layer named by errors found after the start (the configuration was checked then).
const CHECKED: &str = "the configuration checked at start";

/// Plugins as configured, not yet built.
#[derive(Clone, Default)]
pub struct PluginSet {
    entries: Vec<(Arc<PluginFactory>, PluginOptions)>,
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl PluginSet {
    /// Looks the entries of the list at `list_key` (set in `layer`) up in `catalog`.
    pub fn resolve(
        catalog: &Catalog,
        specs: &[PluginSpec],
        list_key: &str,
        layer: &str,
        section: Section,
    ) -> Result<Self, ConfigErrors> {
        let mut entries = Vec::new();
        let mut errs = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let o = PluginOptions::new(spec, format!("{list_key}.{i}"), layer.into(), section);
            match catalog.plugins.get(o.name()) {
                Some(f) => entries.push((f.clone(), o)),
                None => errs.push(
                    o.error("", "unknown plugin")
                        .allowed(catalog.plugins.names().join(", ")),
                ),
            }
        }
        if errs.is_empty() {
            Ok(Self { entries })
        } else {
            Err(ConfigErrors(errs))
        }
    }

    /// Builds one instance of each plugin, in order; reports every refusal.
    pub fn build(&self) -> Result<Vec<Box<dyn Plugin>>, ConfigErrors> {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for (factory, options) in &self.entries {
            match factory(options) {
                Ok(p) => out.push(p),
                Err(e) => errs.extend(e.0),
            }
        }
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors(errs))
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The plugins' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(_, o)| o.name()).collect()
    }
}

/// Builds every configured plugin once, so bad options refuse the start before anything runs.
pub(crate) fn check_config(catalog: &Catalog, loaded: &LoadedConfig) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    let mut check = |key: String, specs: &[PluginSpec], section: Section| {
        if specs.is_empty() {
            return;
        }
        let layer = ConfigError::at(&loaded.figment, &key, "").layer;
        let built =
            PluginSet::resolve(catalog, specs, &key, &layer, section).and_then(|set| set.build());
        if let Err(e) = built {
            errs.extend(e.0);
        }
    };
    let c = &loaded.config;
    check(
        "manager.plugins".into(),
        &c.manager.plugins,
        Section::Manager,
    );
    for (name, s) in &c.schedulers {
        check(
            format!("schedulers.{name}.plugins"),
            &s.plugins,
            Section::Scheduler,
        );
    }
    errs
}

/// The manager's bus, with its plugins.
pub(crate) fn for_manager(
    catalog: &Catalog,
    specs: &[PluginSpec],
) -> Result<EventBus, ConfigErrors> {
    let set = PluginSet::resolve(catalog, specs, "manager.plugins", CHECKED, Section::Manager)?;
    Ok(EventBus::new(Ctx::manager(), set.build()?))
}

/// A scheduler's bus and the worker side of its plugins (see the instance rules in the
/// module doc). Runs in the new scheduler process, before any worker exists; it also puts
/// back the command line if the process inherited a title from the manager.
pub(crate) fn for_scheduler(
    catalog: &Catalog,
    specs: &[PluginSpec],
    service: &str,
    caps: Capabilities,
    scoreboard: &Path,
) -> Result<(EventBus, WorkerPlugins), ConfigErrors> {
    crate::sys::proctitle::reset();
    let set = PluginSet::resolve(catalog, specs, "plugins", CHECKED, Section::Scheduler)?;
    let scheduler = EventBus::new(Ctx::scheduler(service, Some(caps)), set.build()?);
    // Workers that run in the scheduler's own process may drop its privileges: the
    // scoreboard must stay removable.
    let owned = if caps.forks {
        Vec::new()
    } else {
        vec![scoreboard.to_path_buf()]
    };
    let workers = EventBus::new(Ctx::worker(service, Some(caps), owned), set.build()?);
    Ok((scheduler, WorkerPlugins::new(workers)))
}
