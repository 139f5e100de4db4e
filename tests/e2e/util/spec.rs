//! `Spec`: how a test wants its instance started (configuration file, environment, flags,
//! which services), and the TOML of the echo configurations the tests use.

use super::{free_port, ECHO_PORT_ENV, HTTPD_PORT_ENV, MEMCACHE_PORT_ENV};

/// How to start an instance.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub(super) config: Option<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) sets: Vec<String>,
    pub(super) only: Option<String>,
    pub(super) services: Vec<String>,
}

impl Spec {
    /// The embedded default configuration, `echo` moved to `port` by the env layer (and the
    /// default `zeus_memcache` and `zeus_httpd` moved off 11211 and 7070 to free ports, so
    /// instances never collide).
    pub fn default_echo(port: u16) -> Self {
        Self::default_services(port, free_port())
    }

    /// The embedded default configuration, `echo` on `echo_port`, `zeus_httpd` on `http_port`
    /// (both waited for), `zeus_memcache` on a free port.
    pub fn default_services(echo_port: u16, http_port: u16) -> Self {
        Self {
            services: vec!["echo".into(), "zeus_httpd".into()],
            ..Self::default()
        }
        .env(ECHO_PORT_ENV, &echo_port.to_string())
        .env(HTTPD_PORT_ENV, &http_port.to_string())
        .env(MEMCACHE_PORT_ENV, &free_port().to_string())
    }

    /// A configuration file with scheduler `s` (body `scheduler`) and one echo service per
    /// (name, port).
    pub fn echo_services(scheduler: &str, services: &[(&str, u16)]) -> Self {
        Self {
            config: Some(echo_config(scheduler, services)),
            services: services.iter().map(|(n, _)| n.to_string()).collect(),
            ..Self::default()
        }
    }

    /// A configuration file of the test's own, running `services`.
    pub fn config(toml: &str, services: &[&str]) -> Self {
        Self {
            config: Some(toml.to_string()),
            services: services.iter().map(|s| s.to_string()).collect(),
            ..Self::default()
        }
    }

    /// Adds an environment variable (for `zeus start` and every CLI command).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds `--set KEY=VALUE`.
    pub fn set(mut self, key_value: &str) -> Self {
        self.sets.push(key_value.into());
        self
    }

    /// Runs `zeus start SERVICE`: only that service is expected to come up.
    pub fn only(mut self, service: &str) -> Self {
        self.only = Some(service.into());
        self.services = vec![service.into()];
        self
    }
}

/// A configuration with `[schedulers.s]` = `scheduler` and one echo service per (name, port).
pub fn echo_config(scheduler: &str, services: &[(&str, u16)]) -> String {
    let mut s = format!("[schedulers.s]\n{scheduler}\n");
    for (name, port) in services {
        s.push_str(&format!(
            "[services.{name}]\nscheduler_name = \"s\"\nservice_adapter = \"echo\"\n\n\
             [services.{name}.service_settings]\nlisten_port = {port}\n\n"
        ));
    }
    s
}
