//! The `leaky` service: leaks on purpose. Each connection is answered `ok` and leaves
//! `leak_bytes` of touched memory behind in the worker, the way a leaking application does, so
//! `max_process_memory` has something to recycle.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use zeus_core::config::ConfigErrors;
use zeus_core::service::{ListenSpec, Service, Settings};
use zeus_core::worker::WorkerCtx;

/// `service_settings` of `leaky`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeakySettings {
    pub listen_address: IpAddr,
    pub listen_port: u16,
    /// Bytes kept per task.
    pub leak_bytes: usize,
}

impl Default for LeakySettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 7301,
            leak_bytes: 1 << 20,
        }
    }
}

pub struct Leaky {
    addr: SocketAddr,
    port_key: String,
    leak_bytes: usize,
    leaked: Mutex<Vec<Vec<u8>>>,
}

impl Leaky {
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigErrors> {
        let cfg: LeakySettings = s.extract()?;
        if cfg.leak_bytes > 256 << 20 {
            return Err(s.error("leak_bytes", "at most 268435456").into());
        }
        Ok(Self {
            addr: SocketAddr::new(cfg.listen_address, cfg.listen_port),
            port_key: s.key("listen_port"),
            leak_bytes: cfg.leak_bytes,
            leaked: Mutex::new(Vec::new()),
        })
    }
}

impl Service for Leaky {
    fn listeners(&self) -> Vec<ListenSpec> {
        vec![ListenSpec {
            addr: self.addr,
            key: self.port_key.clone(),
        }]
    }

    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        while let Some(conn) = ctx.accept()? {
            let _task = ctx.task("leaking");
            // vec![1; n] writes every byte, so the pages are resident, not just reserved.
            self.leaked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(vec![1u8; self.leak_bytes]);
            let _ = (&conn.stream).write_all(b"ok\n");
        }
        Ok(())
    }
}
