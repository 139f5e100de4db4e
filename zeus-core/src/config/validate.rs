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
    if s.recycle_overlap > 1024 {
        errs.push(ConfigError::at(
            fig,
            &k("recycle_overlap"),
            "must be from 0 to 1024",
        ));
    }
    let mpm = s.multiprocessing_module.as_str();
    if !(1..=1024).contains(&s.threads_per_process) {
        errs.push(ConfigError::at(
            fig,
            &k("threads_per_process"),
            "must be from 1 to 1024",
        ));
    } else if mpm == "hybrid" && !s.max_processes.is_multiple_of(s.threads_per_process) {
        errs.push(ConfigError::at(
            fig,
            &k("max_processes"),
            format!(
                "must be a multiple of threads_per_process ({}) with the hybrid MPM",
                s.threads_per_process
            ),
        ));
    }
    if mpm == "thread" && s.max_process_memory.0 > 0 {
        errs.push(
            ConfigError::at(
                fig,
                &k("max_process_memory"),
                "thread workers share one process's memory",
            )
            .allowed("0 with the thread MPM"),
        );
    }
    if !(s.process_idle_timeout.is_finite() && s.process_idle_timeout > 0.0) {
        errs.push(ConfigError::at(
            fig,
            &k("process_idle_timeout"),
            "must be a positive number of seconds",
        ));
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
    // figment cannot look array elements up: the list's key gives the layer.
    let layer = super::error::layer_of(fig, key);
    for (i, p) in plugins.iter().enumerate() {
        let (value, problem) = match p.name() {
            Some(name) if reg.plugins.iter().any(|k| k == name) => continue,
            Some(name) => (Some(format!("{name:?}")), "unknown plugin"),
            None => (None, "a plugin table needs a `name` (a string)"),
        };
        errs.push(ConfigError {
            key: format!("{key}.{i}"),
            value,
            layer: layer.clone(),
            problem: problem.into(),
            allowed: Some(list_or_none(&reg.plugins)),
        });
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
