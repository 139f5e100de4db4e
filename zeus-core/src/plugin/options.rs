//! A plugin's options as its factory sees them: the entry's table minus `name`, with the key
//! and layer every error must name (`schedulers.web.plugins.1.user`, from `file …`).

use std::collections::BTreeMap;

use figment::value::Value;
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, ConfigErrors, PluginSpec};

/// Where a plugin was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `manager.plugins`.
    Manager,
    /// `schedulers.NAME.plugins`.
    Scheduler,
}

/// One plugin entry's options.
#[derive(Debug, Clone)]
pub struct PluginOptions {
    name: String,
    key: String,
    layer: String,
    section: Section,
    table: BTreeMap<String, Value>,
}

impl PluginOptions {
    /// Options of the entry at `key` (e.g. `schedulers.web.plugins.1`), set in `layer`.
    pub fn new(spec: &PluginSpec, key: String, layer: String, section: Section) -> Self {
        let (name, table) = match spec {
            PluginSpec::Name(n) => (n.clone(), BTreeMap::new()),
            PluginSpec::Table(t) => {
                let mut t = t.clone();
                t.remove("name");
                (spec.name().unwrap_or_default().to_string(), t)
            }
        };
        Self {
            name,
            key,
            layer,
            section,
            table,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was configured.
    pub fn section(&self) -> Section {
        self.section
    }

    /// The entry's key, e.g. `schedulers.web.plugins.1`.
    pub fn entry_key(&self) -> &str {
        &self.key
    }

    /// The full key of an option, e.g. `schedulers.web.plugins.1.user`.
    pub fn key(&self, option: &str) -> String {
        format!("{}.{option}", self.key)
    }

    /// An option's value, if set.
    pub fn get(&self, option: &str) -> Option<&Value> {
        self.table.get(option)
    }

    /// An error about `option` (or the entry, when `option` is empty), naming its value.
    pub fn error(&self, option: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: if option.is_empty() {
                self.key.clone()
            } else {
                self.key(option)
            },
            value: match self.get(option) {
                Some(v) => Some(render(v)),
                None if option.is_empty() => Some(format!("{:?}", self.name)),
                None => None,
            },
            layer: self.layer.clone(),
            problem: problem.into(),
            allowed: None,
        }
    }

    /// A string option; a value of another type is an error.
    pub fn string(&self, option: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(option) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.error(option, "wrong type: expected a string")),
        }
    }

    /// An option of any type serde can read (`u64`, `bool`, `Vec<String>`, a struct…); a
    /// value it cannot read is an error naming the key.
    pub fn value<T: DeserializeOwned>(&self, option: &str) -> Result<Option<T>, ConfigError> {
        self.get(option)
            .map(|v| T::deserialize(v).map_err(|e| self.error(option, e.kind.to_string())))
            .transpose()
    }

    /// Refuses every option not in `known` (a typo would otherwise be ignored).
    pub fn only(&self, known: &[&str]) -> Result<(), ConfigErrors> {
        let errs: Vec<ConfigError> = self
            .table
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| {
                let allowed = if known.is_empty() {
                    "(this plugin takes no options)".to_string()
                } else {
                    known.join(", ")
                };
                self.error(k, "unknown option (a typo?)").allowed(allowed)
            })
            .collect();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errs))
        }
    }
}

/// A value as a user would write it (strings quoted, tables and arrays abridged).
fn render(v: &Value) -> String {
    match v {
        Value::Dict(_, d) => format!("{{{} keys}}", d.len()),
        Value::Array(_, a) => format!("[{} items]", a.len()),
        other => serde_json::to_string(other).unwrap_or_else(|_| "?".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Value)]) -> PluginOptions {
        let mut t: BTreeMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        t.insert("name".into(), Value::from("p"));
        PluginOptions::new(
            &PluginSpec::Table(t),
            "schedulers.s.plugins.1".into(),
            "file zeus.toml".into(),
            Section::Scheduler,
        )
    }

    #[test]
    fn name_is_not_an_option_and_unknown_options_are_named() {
        let o = opts(&[("usr", Value::from("nobody"))]);
        assert_eq!(o.name(), "p");
        assert!(o.get("name").is_none());
        let e = o.only(&["user", "group"]).unwrap_err().0;
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, "schedulers.s.plugins.1.usr");
        assert_eq!(e[0].value.as_deref(), Some("\"nobody\""));
        assert_eq!(e[0].layer, "file zeus.toml");
        assert_eq!(e[0].allowed.as_deref(), Some("user, group"));
    }

    #[test]
    fn a_string_option_of_another_type_is_refused() {
        let o = opts(&[("user", Value::from(7u8))]);
        let e = o.string("user").unwrap_err();
        assert_eq!(e.key, "schedulers.s.plugins.1.user");
        assert_eq!(e.value.as_deref(), Some("7"));
        assert_eq!(o.string("group").unwrap(), None);
        assert_eq!(o.value::<u16>("user").unwrap(), Some(7));
        let e = o.value::<bool>("user").unwrap_err();
        assert!(e.problem.contains("bool"), "{e}");
    }
}
