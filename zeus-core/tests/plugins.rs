//! Plugins as configuration sees them: names checked against the catalog, options validated by
//! each factory when the configuration is prepared (before anything starts), every refusal
//! naming its key, value and layer; and a plugin registered by a library user.

use std::path::PathBuf;

use crate::config_file::ConfigFile;
use zeus_core::config::{ConfigError, ConfigErrors};
use zeus_core::event::Event;
use zeus_core::plugin::{Ctx, Plugin, PluginError, PluginOptions};
use zeus_core::Zeus;

fn config(plugins: &str, manager_plugins: &str) -> String {
    format!(
        r#"
[manager]
plugins = {manager_plugins}

[schedulers.s]
start_processes = 1
max_processes = 2
min_spare_processes = 0
max_spare_processes = 1
plugins = {plugins}

[services.svc]
scheduler_name = "s"
service_adapter = "echo"
[services.svc.service_settings]
listen_port = 7002
"#
    )
}

fn opts(body: &str) -> (ConfigFile, PathBuf) {
    let file = ConfigFile::new("plugins", body, &[]);
    let path = file.path();
    (file, path)
}

fn refused_by(zeus: &Zeus, plugins: &str, manager_plugins: &str) -> (Vec<ConfigError>, PathBuf) {
    let (o, path) = opts(&config(plugins, manager_plugins));
    match zeus.prepare(&o) {
        Ok(_) => panic!("accepted: plugins = {plugins}"),
        Err(e) => (e.0, path),
    }
}

fn refused(plugins: &str, manager_plugins: &str) -> (Vec<ConfigError>, PathBuf) {
    refused_by(&Zeus::new(), plugins, manager_plugins)
}

#[test]
fn built_in_plugins_with_good_options_are_accepted() {
    let plugins =
        r#"["process_title", { name = "drop_privileges", user = "root", group = "root" }]"#;
    let (o, _) = opts(&config(plugins, r#"["process_title"]"#));
    let p = Zeus::new().prepare(&o).unwrap();
    assert_eq!(p.loaded.config.schedulers["s"].plugins.len(), 2);
    assert!(Zeus::new()
        .registries()
        .plugins
        .iter()
        .any(|n| n == "drop_privileges"));
}

#[test]
fn an_unknown_plugin_is_named_with_its_value_and_file() {
    let (errs, path) = refused(r#"["process_title", "proces_title"]"#, "[]");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.key, "schedulers.s.plugins.1");
    assert_eq!(e.value.as_deref(), Some("\"proces_title\""));
    assert!(
        e.layer
            .contains(path.file_name().unwrap().to_str().unwrap()),
        "{e}"
    );
    assert!(
        e.allowed.as_deref().unwrap().contains("process_title"),
        "{e}"
    );
}

#[test]
fn drop_privileges_refuses_unknown_users_groups_and_options_all_at_once() {
    let plugins = r#"[
        { name = "drop_privileges", user = "no-such-user-zeus" },
        { name = "drop_privileges", user = "nobody", group = "no-such-group-zeus", uid = 3 },
    ]"#;
    let (errs, path) = refused(plugins, "[]");
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "schedulers.s.plugins.0.user",
            "schedulers.s.plugins.1.uid",
            "schedulers.s.plugins.1.group",
        ]
    );
    assert_eq!(errs[0].value.as_deref(), Some("\"no-such-user-zeus\""));
    assert_eq!(errs[0].problem, "no such user");
    assert_eq!(errs[2].problem, "no such group");
    let file = path.display().to_string();
    assert!(errs.iter().all(|e| e.layer.contains(&file)), "{errs:?}");
}

#[test]
fn the_manager_cannot_drop_privileges_and_titles_take_no_options() {
    let (errs, _) = refused(
        r#"[{ name = "process_title", verbose = true }]"#,
        r#"[{ name = "drop_privileges", user = "nobody" }]"#,
    );
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["manager.plugins.0", "schedulers.s.plugins.0.verbose"],
        "{errs:?}"
    );
}

/// A library user's plugin: refuses workers beyond `max` (a vetoable event).
struct Cap {
    max: u64,
}

impl Plugin for Cap {
    fn name(&self) -> &str {
        "cap"
    }

    fn on_event(&mut self, e: &Event, _: &Ctx) -> Result<(), PluginError> {
        match e {
            Event::WorkerCreate { worker_id, .. } if *worker_id > self.max => Err(
                PluginError::Refused(format!("worker {worker_id} is over {}", self.max)),
            ),
            _ => Ok(()),
        }
    }
}

fn cap_factory(o: &PluginOptions) -> Result<Box<dyn Plugin>, ConfigErrors> {
    o.only(&["max"])?;
    let max = o
        .value::<u64>("max")?
        .ok_or_else(|| o.error("max", "missing required option"))?;
    Ok(Box::new(Cap { max }))
}

#[test]
fn a_registered_plugin_is_configured_by_name_and_validates_its_options() {
    let mut zeus = Zeus::new();
    zeus.register_plugin("cap", cap_factory);
    let (o, _) = opts(&config(r#"[{ name = "cap", max = 4 }]"#, "[]"));
    zeus.prepare(&o).unwrap();
    let (errs, _) = refused_by(&zeus, r#"[{ name = "cap", max = "four" }]"#, "[]");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].key, "schedulers.s.plugins.0.max");
    assert_eq!(errs[0].value.as_deref(), Some("\"four\""));
    let (errs, _) = refused(r#"[{ name = "cap", max = 4 }]"#, "[]");
    assert_eq!(
        errs[0].problem, "unknown plugin",
        "not registered in a plain Zeus"
    );
}

#[test]
fn a_plugin_can_veto_a_worker_creation() {
    use zeus_core::event::EventBus;
    let mut bus = EventBus::new(Ctx::scheduler("svc", None), vec![Box::new(Cap { max: 1 })]);
    let create = |worker_id| Event::WorkerCreate {
        worker_id,
        slot: 0,
        workers: 1,
    };
    assert!(bus.propose(create(1)).is_ok());
    let veto = bus.propose(create(2)).unwrap_err();
    assert_eq!(
        veto.to_string(),
        "plugin cap refused WorkerCreate: worker 2 is over 1"
    );
}
