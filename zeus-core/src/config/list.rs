//! Effective configuration with provenance: every value and the layer that set it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value as Json;

use super::error::layer_of;
use super::LoadedConfig;

/// One effective value.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Entry {
    /// Dotted key.
    pub key: String,
    /// Effective value.
    pub value: Json,
    /// The layer it came from.
    pub layer: String,
}

/// Entries for all services (and the global sections), or for one service and its scheduler.
///
/// `settings` holds each service's effective `service_settings` as its adapter parsed them,
/// so defaults the adapter filled in are listed too.
pub fn effective_entries(
    loaded: &LoadedConfig,
    settings: &BTreeMap<String, Json>,
    only: Option<&str>,
) -> Vec<Entry> {
    let cfg = &loaded.config;
    let mut roots: Vec<(String, Json)> = Vec::new();
    if only.is_none() {
        roots.push(("run_dir".into(), to_json(&cfg.run_dir)));
        roots.push(("logger".into(), to_json(&cfg.logger)));
        roots.push(("manager".into(), to_json(&cfg.manager)));
    }
    for (name, svc) in &cfg.services {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let mut v = to_json(svc);
        if let (Json::Object(map), Some(s)) = (&mut v, settings.get(name)) {
            map.insert("service_settings".into(), s.clone());
        }
        roots.push((format!("services.{name}"), v));
        if let Some(s) = cfg.schedulers.get(&svc.scheduler_name) {
            let key = format!("schedulers.{}", svc.scheduler_name);
            if !roots.iter().any(|(k, _)| *k == key) {
                roots.push((key, to_json(s)));
            }
        }
    }
    let mut out = Vec::new();
    for (key, value) in roots {
        flatten(&key, value, &mut out);
    }
    for e in &mut out {
        e.layer = layer_of(&loaded.figment, &e.key);
    }
    out
}

fn to_json<T: Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

fn flatten(key: &str, value: Json, out: &mut Vec<Entry>) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        value => out.push(Entry {
            key: key.to_string(),
            value,
            layer: String::new(),
        }),
    }
}
