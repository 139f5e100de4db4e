//! `echo`: the smallest service. Each line a client sends comes back; one connection is one
//! task. Lines are bounded (`max_line_bytes`) and idle clients are dropped (`idle_timeout`),
//! so a client can neither grow a worker's memory nor hold it forever.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ListenSpec, Service, Settings};
use crate::config::ConfigErrors;
use crate::worker::WorkerCtx;

/// `service_settings` of an echo service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EchoSettings {
    /// Address to listen on.
    pub listen_address: IpAddr,
    /// TCP port.
    pub listen_port: u16,
    /// Longest line accepted; a longer one gets an error and the connection is closed.
    pub max_line_bytes: usize,
    /// Seconds a client may stay silent before it is disconnected.
    pub idle_timeout: f64,
}

impl Default for EchoSettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 7777,
            max_line_bytes: 8192,
            idle_timeout: 60.0,
        }
    }
}

/// The echo service.
#[derive(Debug, Clone)]
pub struct EchoService {
    settings: EchoSettings,
    idle: Duration,
    port_key: String,
}

impl EchoService {
    /// Validates the settings and builds the service.
    pub fn from_settings(s: &Settings<'_>) -> Result<Self, ConfigErrors> {
        let settings: EchoSettings = s.extract()?;
        let mut errs = Vec::new();
        if settings.listen_port == 0 {
            errs.push(s.error("listen_port", "must be a port number from 1 to 65535"));
        }
        if settings.max_line_bytes == 0 || settings.max_line_bytes > 16 << 20 {
            errs.push(s.error("max_line_bytes", "must be from 1 to 16777216"));
        }
        let idle = Duration::try_from_secs_f64(settings.idle_timeout)
            .ok()
            .filter(|d| !d.is_zero());
        if idle.is_none() {
            errs.push(s.error("idle_timeout", "must be a positive number of seconds"));
        }
        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        Ok(Self {
            idle: idle.expect("invariant: checked above"),
            settings,
            port_key: s.key("listen_port"),
        })
    }
}

impl Service for EchoService {
    fn listeners(&self) -> Vec<ListenSpec> {
        vec![ListenSpec {
            addr: SocketAddr::new(self.settings.listen_address, self.settings.listen_port),
            key: self.port_key.clone(),
        }]
    }

    fn serve(&self, ctx: &mut WorkerCtx<'_>) -> io::Result<()> {
        while let Some(conn) = ctx.accept()? {
            let _task = ctx.task(&format!("echo {}", conn.peer));
            if let Err(e) = echo(conn.stream, self.settings.max_line_bytes, self.idle) {
                tracing::debug!(peer = %conn.peer, "connection ended: {e}");
            }
        }
        Ok(())
    }
}

/// Sends every line back until EOF, an idle timeout or an over-long line.
fn echo(stream: TcpStream, max_line: usize, idle: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(idle))?;
    stream.set_write_timeout(Some(idle))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = (&mut reader)
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > max_line {
            writer.write_all(format!("ERROR line too long (max {max_line} bytes)\n").as_bytes())?;
            return Ok(());
        }
        writer.write_all(&line)?;
    }
}
