//! Configuration: layers, provenance, and refusals that name key, value and layer.
//! Files go through `--config` (no process environment is changed, so tests run in parallel).

use crate::config_file::ConfigFile;
use zeus_core::config::{ConfigError, ConfigOptions};
use zeus_core::Zeus;

const BASE: &str = r#"
[schedulers.s]
start_processes = 2
max_processes = 4
min_spare_processes = 1
max_spare_processes = 2

[services.svc]
scheduler_name = "s"
service_adapter = "echo"
[services.svc.service_settings]
listen_port = 7001
"#;

fn opts(body: &str, sets: &[&str]) -> ConfigFile {
    ConfigFile::new("config", body, sets)
}

fn refused(body: &str, sets: &[&str]) -> Vec<ConfigError> {
    match Zeus::new().prepare(&opts(body, sets)) {
        Ok(_) => panic!("configuration was accepted:\n{body}"),
        Err(e) => e.0,
    }
}

fn only(errs: Vec<ConfigError>) -> ConfigError {
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn embedded_default_runs_echo() {
    // The default set also names zeus-memcache's `memcache` adapter, which the zeus binary
    // registers; an echo stand-in accepts its two listen settings here.
    let mut z = Zeus::new();
    z.register_service("memcache", |s| {
        Ok(std::sync::Arc::new(zeus_core::service::EchoService::from_settings(s)?) as _)
    });
    let p = z
        .prepare(&ConfigOptions::default())
        .expect("embedded default is valid");
    assert_eq!(p.services.len(), 2);
    assert_eq!(p.services[0].name, "echo");
    assert_eq!(p.services[1].name, "zeus_memcache");
    assert_eq!(p.services[1].scheduler.max_process_tasks, 0);
    assert_eq!(p.services[0].scheduler.start_processes, 8);
    let port = p
        .entries(Some("echo"))
        .into_iter()
        .find(|e| e.key == "services.echo.service_settings.listen_port")
        .unwrap();
    assert_eq!(port.layer, "embedded defaults");
}

#[test]
fn a_file_replaces_the_default_service_set_and_is_named_as_layer() {
    let o = opts(BASE, &[]);
    let p = Zeus::new().prepare(&o).unwrap();
    assert_eq!(
        p.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["svc"]
    );
    let entries = p.entries(None);
    let get = |k: &str| {
        entries
            .iter()
            .find(|e| e.key == k)
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    let file = std::fs::canonicalize(o.file.as_ref().unwrap()).unwrap();
    assert_eq!(
        get("schedulers.s.max_processes").layer,
        format!("file {}", file.display())
    );
    assert_eq!(
        get("schedulers.s.max_process_tasks").layer,
        "built-in default"
    );
    assert_eq!(
        get("services.svc.service_settings.max_line_bytes").value,
        8192
    );
    assert_eq!(get("logger.format").layer, "embedded defaults");
}

#[test]
fn flags_win_and_are_named() {
    let p = Zeus::new()
        .prepare(&opts(BASE, &["schedulers.s.max_processes=9"]))
        .unwrap();
    assert_eq!(p.services[0].scheduler.max_processes, 9);
    let e = p
        .entries(None)
        .into_iter()
        .find(|e| e.key == "schedulers.s.max_processes")
        .unwrap();
    assert_eq!(
        e.layer,
        "command-line flag --set schedulers.s.max_processes"
    );
    let base = opts(BASE, &[]);
    let o = ConfigOptions {
        run_dir: Some("/tmp/zeus-flag-run".into()),
        ..base.opts.clone()
    };
    let p = Zeus::new().prepare(&o).unwrap();
    let e = p
        .entries(None)
        .into_iter()
        .find(|e| e.key == "run_dir")
        .unwrap();
    assert_eq!(e.layer, "command-line flag --run-dir");
}

#[test]
fn unknown_key_is_refused_with_its_path_and_file() {
    let e = only(refused(
        &BASE.replace("max_processes = 4", "max_procesess = 4"),
        &[],
    ));
    assert_eq!(e.key, "schedulers.s.max_procesess");
    assert!(e.layer.starts_with("file "), "{e}");
    assert!(
        e.allowed.as_deref().unwrap().contains("max_processes"),
        "{e}"
    );
}

#[test]
fn unknown_setting_of_a_service_is_refused() {
    let e = only(refused(
        &BASE.replace("listen_port = 7001", "listen_prot = 7001"),
        &[],
    ));
    assert_eq!(e.key, "services.svc.service_settings.listen_prot");
    assert!(e.layer.starts_with("file "), "{e}");
}

#[test]
fn wrong_type_names_key_and_value() {
    let e = only(refused(
        &BASE.replace("start_processes = 2", "start_processes = \"two\""),
        &[],
    ));
    assert_eq!(e.key, "schedulers.s.start_processes");
    assert_eq!(e.value.as_deref(), Some("\"two\""));
    assert!(e.problem.contains("wrong type"), "{e}");
}

#[test]
fn a_bad_flag_value_names_the_flag() {
    let e = only(refused(
        BASE,
        &["services.svc.service_settings.listen_port=99999"],
    ));
    assert_eq!(e.key, "services.svc.service_settings.listen_port");
    assert!(e.layer.contains("--set"), "{e}");
}

#[test]
fn missing_scheduler_lists_the_known_ones() {
    let e = only(refused(
        &BASE.replace("scheduler_name = \"s\"", "scheduler_name = \"nope\""),
        &[],
    ));
    assert_eq!(e.key, "services.svc.scheduler_name");
    assert_eq!(e.value.as_deref(), Some("\"nope\""));
    assert_eq!(e.allowed.as_deref(), Some("s"));
}

#[test]
fn a_service_only_tweaked_in_a_file_is_told_that_files_replace_the_defaults() {
    let e = only(refused(
        "[services.zeus_httpd.service_settings]\nlisten_port = 8080\n",
        &[],
    ));
    assert!(e.key.starts_with("services.zeus_httpd."), "{e}");
    assert!(e.to_string().contains("missing required key"), "{e}");
    assert!(
        e.to_string()
            .contains("replaces the embedded default services"),
        "{e}"
    );
}

#[test]
fn spare_and_start_bounds_are_checked() {
    let e = only(refused(
        &BASE.replace("min_spare_processes = 1", "min_spare_processes = 3"),
        &[],
    ));
    assert_eq!(e.key, "schedulers.s.min_spare_processes");
    let e = only(refused(
        &BASE.replace("start_processes = 2", "start_processes = 5"),
        &[],
    ));
    assert_eq!(e.key, "schedulers.s.start_processes");
    assert!(e.to_string().contains("max_processes (4)"), "{e}");
}

#[test]
fn unknown_adapter_and_mpm_are_refused_with_the_choices() {
    let errs = refused(
        &BASE
            .replace("service_adapter = \"echo\"", "service_adapter = \"ecko\"")
            .replace(
                "start_processes = 2",
                "start_processes = 2\nmultiprocessing_module = \"fork\"",
            ),
        &[],
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"services.svc.service_adapter"), "{errs:?}");
    assert!(
        keys.contains(&"schedulers.s.multiprocessing_module"),
        "{errs:?}"
    );
    assert!(errs.iter().all(|e| e.allowed.is_some()));
}

#[test]
fn a_missing_config_file_is_an_error() {
    let o = ConfigOptions {
        file: Some("/nonexistent/zeus.toml".into()),
        ..Default::default()
    };
    let errs = Zeus::new().prepare(&o).err().expect("refused").0;
    assert!(errs[0].to_string().contains("no such file"));
}
