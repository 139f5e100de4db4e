//! The `uppercase` service: each line comes back in upper case; one connection is one task.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeus_core::config::ConfigErrors;
use zeus_core::service::{ListenSpec, Service, Settings};
use zeus_core::worker::WorkerCtx;

/// `service_settings` of `uppercase`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UppercaseSettings {
    pub listen_address: IpAddr,
    pub listen_port: u16,
}

impl Default for UppercaseSettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 7300,
        }
    }
}

pub struct Uppercase {
    addr: SocketAddr,
    port_key: String,
}

impl Uppercase {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigErrors> {
        let cfg: UppercaseSettings = s.extract()?;
        Ok(Self {
            addr: SocketAddr::new(cfg.listen_address, cfg.listen_port),
            port_key: s.key("listen_port"),
        })
    }
}

impl Service for Uppercase {
    fn listeners(&self) -> Vec<ListenSpec> {
        vec![ListenSpec {
            addr: self.addr,
            key: self.port_key.clone(),
        }]
    }

    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        while let Some(conn) = ctx.accept()? {
            let _task = ctx.task(&format!("uppercase {}", conn.peer));
            conn.stream
                .set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut reader = BufReader::new(&conn.stream).take(1 << 20);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                (&conn.stream).write_all(line.to_uppercase().as_bytes())?;
                line.clear();
            }
        }
        Ok(())
    }
}
