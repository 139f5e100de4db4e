//! A service's view of its `service_settings`: typed extraction whose errors still name the
//! full key and the layer, and a record of the effective values for `zeus list`.

use std::cell::RefCell;

use figment::Figment;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::{ConfigError, ConfigErrors};

/// `services.NAME.service_settings`, as a service adapter sees it.
#[derive(Debug)]
pub struct Settings<'a> {
    figment: &'a Figment,
    prefix: String,
    effective: RefCell<Option<serde_json::Value>>,
    mpm: Option<String>,
}

impl<'a> Settings<'a> {
    /// Settings of service `service` in `figment`.
    pub fn new(figment: &'a Figment, service: &str) -> Self {
        Self {
            figment,
            prefix: format!("services.{service}.service_settings"),
            effective: RefCell::new(None),
            mpm: None,
        }
    }

    /// The same settings, knowing the `multiprocessing_module` of the service's scheduler.
    pub fn with_mpm(mut self, mpm: &str) -> Self {
        self.mpm = Some(mpm.to_owned());
        self
    }

    /// The `multiprocessing_module` of the service's scheduler (`process`, `thread`,
    /// `hybrid`), when known: a service whose state cannot be shared between processes
    /// refuses the others.
    pub fn mpm(&self) -> Option<&str> {
        self.mpm.as_deref()
    }

    /// Deserialises the settings (unknown keys refused by the target type) and records them.
    pub fn extract<T: DeserializeOwned + Serialize>(&self) -> Result<T, ConfigErrors> {
        let value: T =
            self.figment.focus(&self.prefix).extract().map_err(|e| {
                ConfigErrors(ConfigError::from_figment(self.figment, e, &self.prefix))
            })?;
        *self.effective.borrow_mut() = serde_json::to_value(&value).ok();
        Ok(value)
    }

    /// Full key of a setting, e.g. `services.echo.service_settings.listen_port`.
    pub fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.prefix)
    }

    /// An error about one setting, naming its value and layer.
    pub fn error(&self, field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError::at(self.figment, &self.key(field), problem)
    }

    /// The effective settings recorded by the last `extract`.
    pub fn effective(&self) -> Option<serde_json::Value> {
        self.effective.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mpm_is_known_only_when_given() {
        let fig = Figment::new();
        assert_eq!(Settings::new(&fig, "svc").mpm(), None);
        let s = Settings::new(&fig, "svc").with_mpm("thread");
        assert_eq!(s.mpm(), Some("thread"));
        assert_eq!(s.key("port"), "services.svc.service_settings.port");
    }
}
