//! The `crashy` service: every worker dies as it starts, before it ever waits for a task (a
//! broken deployment). It shows that zeus replaces such workers with a growing delay instead of
//! forking in a loop.

use std::io;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use zeus_core::config::ConfigErrors;
use zeus_core::service::{ListenSpec, Service, Settings};
use zeus_core::worker::WorkerCtx;

/// `service_settings` of `crashy`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrashySettings {
    pub listen_address: IpAddr,
    pub listen_port: u16,
}

impl Default for CrashySettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 7302,
        }
    }
}

pub struct Crashy {
    addr: SocketAddr,
    port_key: String,
}

impl Crashy {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigErrors> {
        let cfg: CrashySettings = s.extract()?;
        Ok(Self {
            addr: SocketAddr::new(cfg.listen_address, cfg.listen_port),
            port_key: s.key("listen_port"),
        })
    }
}

impl Service for Crashy {
    fn listeners(&self) -> Vec<ListenSpec> {
        vec![ListenSpec {
            addr: self.addr,
            key: self.port_key.clone(),
        }]
    }

    fn serve(&self, _ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        panic!("crashy: this worker fails before it is ready")
    }
}
