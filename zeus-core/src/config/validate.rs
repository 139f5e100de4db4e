//! Cross-field checks that serde cannot express. Nothing is clamped: a bad value is refused.

use figment::Figment;

use super::error::{ConfigError, ConfigErrors};
use super::{PluginSpec, SchedulerConfig, ZeusConfig};

/// The names each pluggable concept accepts (filled from the live registries).
#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// `service_adapter` values.
    pub services: Vec<String>,
    /// `multiprocessing_module` values.
    pub mpms: Vec<String>,
    /// `scheduler_discipline` values.
    pub disciplines: Vec<String>,
    /// `ipc_adapter` values.
    pub ipc_adapters: Vec<String>,
    /// `logger_adapter` values.
    pub loggers: Vec<String>,
    /// Plugin names.
    pub plugins: Vec<String>,
}

/// Runs every check and reports all failures together.
pub fn validate(cfg: &ZeusConfig, fig: &Figment, reg: &Registries) -> Result<(), ConfigErrors> {
    let mut errs = Vec::new();
    for (name, s) in &cfg.schedulers {
        check_name(fig, &format!("schedulers.{name}"), name, &mut errs);
        check_scheduler(fig, &format!("schedulers.{name}"), s, reg, &mut errs);
    }
    for (name, svc) in &cfg.services {
        let key = format!("services.{name}");
        check_name(fig, &key, name, &mut errs);
        if !cfg.schedulers.contains_key(&svc.scheduler_name) {
            let known: Vec<_> = cfg.schedulers.keys().map(String::as_str).collect();
            errs.push(
                ConfigError::at(
                    fig,
                    &format!("{key}.scheduler_name"),
                    "no scheduler of that name",
                )
                .allowed(list(&known)),
            );
        }
        one_of(
            fig,
            &format!("{key}.service_adapter"),
            &svc.service_adapter,
            &reg.services,
            &mut errs,
        );
        one_of(
            fig,
            &format!("{key}.logger_adapter"),
            &svc.logger_adapter,
            &reg.loggers,
            &mut errs,
        );
    }
    check_plugins(fig, "manager.plugins", &cfg.manager.plugins, reg, &mut errs);
    if let Some(dir) = &cfg.run_dir {
        if dir.as_os_str().is_empty() {
            errs.push(ConfigError::at(
                fig,
                "run_dir",
                "must not be empty (leave it out for the default)",
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errs))
    }
}

fn check_scheduler(
    fig: &Figment,
    key: &str,
    s: &SchedulerConfig,
    reg: &Registries,
    errs: &mut Vec<ConfigError>,
) {
    let k = |field: &str| format!("{key}.{field}");
    one_of(
        fig,
        &k("multiprocessing_module"),
        &s.multiprocessing_module,
        &reg.mpms,
        errs,
    );
    one_of(
        fig,
        &k("scheduler_discipline"),
        &s.scheduler_discipline,
        &reg.disciplines,
        errs,
    );
    one_of(
        fig,
        &k("ipc_adapter"),
        &s.ipc_adapter,
        &reg.ipc_adapters,
        errs,
    );
    if s.max_processes == 0 {
        errs.push(ConfigError::at(
            fig,
            &k("max_processes"),
            "must be at least 1",
        ));
    }
    if s.start_processes > s.max_processes {
        errs.push(ConfigError::at(
            fig,
            &k("start_processes"),
            format!("must not exceed max_processes ({})", s.max_processes),
        ));
    }
    if s.min_spare_processes > s.max_spare_processes {
        errs.push(ConfigError::at(
            fig,
            &k("min_spare_processes"),
            format!(
                "must not exceed max_spare_processes ({})",
                s.max_spare_processes
            ),
        ));
    }
    if s.max_spare_processes > s.max_processes {
        errs.push(ConfigError::at(
            fig,
            &k("max_spare_processes"),
            format!("must not exceed max_processes ({})", s.max_processes),
        ));
    }
    if !s.enable_process_cache {
        errs.push(
            ConfigError::at(
                fig,
                &k("enable_process_cache"),
                "on-demand workers are not available yet",
            )
            .allowed("true"),
        );
    }
    if !(s.shutdown_timeout.is_finite() && s.shutdown_timeout > 0.0 && s.shutdown_timeout <= 3600.0)
    {
        errs.push(ConfigError::at(
            fig,
            &k("shutdown_timeout"),
            "must be a number of seconds in (0, 3600]",
        ));
    }
    check_plugins(fig, &k("plugins"), &s.plugins, reg, errs);
}

fn check_plugins(
    fig: &Figment,
    key: &str,
    plugins: &[PluginSpec],
    reg: &Registries,
    errs: &mut Vec<ConfigError>,
) {
    for (i, p) in plugins.iter().enumerate() {
        // figment finds the layer of the array, not of its items: blame the array's layer.
        let err = |problem: &str, value: Option<String>| ConfigError {
            key: format!("{key}.{i}"),
            value,
            layer: super::error::layer_of(fig, key),
            problem: problem.into(),
            allowed: None,
        };
        match p.name() {
            Some(name) if reg.plugins.iter().any(|k| k == name) => {}
            Some(name) => errs.push(
                err("unknown plugin", Some(format!("{name:?}")))
                    .allowed(list_or_none(&reg.plugins)),
            ),
            None => errs.push(err("a plugin table needs a `name`", None)),
        }
    }
}

fn one_of(fig: &Figment, key: &str, value: &str, known: &[String], errs: &mut Vec<ConfigError>) {
    if !known.iter().any(|k| k == value) {
        errs.push(ConfigError::at(fig, key, "unknown name").allowed(list_or_none(known)));
    }
}

/// Names become file names (`/dev/shm/zeus.<instance>.<service>.scoreboard`) and log fields.
fn check_name(fig: &Figment, key: &str, name: &str, errs: &mut Vec<ConfigError>) {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        errs.push(ConfigError {
            key: key.to_string(),
            value: Some(format!("{name:?}")),
            layer: super::error::layer_of(fig, key),
            problem: "invalid name".into(),
            allowed: Some("1 to 48 characters from A-Z a-z 0-9 _ -".into()),
        });
    }
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "(none configured)".into()
    } else {
        names.join(", ")
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none available in this version)".into()
    } else {
        names.join(", ")
    }
}
