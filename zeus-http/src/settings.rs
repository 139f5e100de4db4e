//! `service_settings` of an `http` service: typed, with defaults in `Default`, unknown keys
//! refused, and every value checked in `HttpConfig::from_settings` (one place turns settings
//! into the running configuration).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeus_core::config::{ConfigError, ConfigErrors};
use zeus_core::service::Settings;

use crate::request::Limits;

/// The settings as written in configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on.
    pub listen_address: IpAddr,
    /// TCP port.
    pub listen_port: u16,
    /// Directory served; empty serves the bundled welcome site.
    pub document_root: PathBuf,
    /// Files tried, in order, for a directory.
    pub index: Vec<String>,
    /// Extensions never served (case-insensitive), e.g. source code.
    pub blocked_file_types: Vec<String>,
    /// Serve symlinks whose target is outside `document_root`.
    pub allow_symlinks_outside_root: bool,
    /// Path of the status page (loopback clients only); empty turns it off.
    pub status_path: String,
    /// Access log of `logger_adapter = "file"`: empty (off), `stdout`, or a file path
    /// (appended to).
    pub access_log: String,
    /// Who writes the access log: `file` (`access_log`), `zeus` (zeus's own log, through
    /// the scheduler), or the name of a logger registered with `Http::access_logger`.
    pub logger_adapter: String,
    /// Mounted Rust handlers: path prefix → registered handler name.
    pub mounts: BTreeMap<String, String>,
    /// Longest request head, in bytes (431 beyond).
    pub max_head_bytes: usize,
    /// Longest request target, in bytes (414 beyond).
    pub max_uri_bytes: usize,
    /// Most header fields in a request (431 beyond).
    pub max_headers: usize,
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: u64,
    /// Seconds a client has to send a whole request head.
    pub header_timeout: f64,
    /// Seconds a client may stall while sending a body.
    pub body_timeout: f64,
    /// Seconds an idle keep-alive connection is kept.
    pub keepalive_timeout: f64,
    /// Seconds a client may stall while receiving a response.
    pub send_timeout: f64,
    /// Most open connections per worker; beyond, the worker stops accepting.
    pub max_connections_per_worker: usize,
    /// Files at least this large are sent with `sendfile(2)`; smaller ones are read.
    pub sendfile_min_bytes: u64,
    /// Seconds a file stays cached in each worker thread, a small one with its bytes, a
    /// larger one as an open descriptor (nginx's `open_file_cache_valid`): a changed file is
    /// served within this time; 0: no cache.
    pub open_file_cache_valid: f64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 7070,
            document_root: PathBuf::new(),
            index: vec!["index.html".into()],
            blocked_file_types: vec!["php".into(), "phtml".into()],
            allow_symlinks_outside_root: false,
            status_path: String::new(),
            access_log: String::new(),
            logger_adapter: crate::access_log::FILE.into(),
            mounts: BTreeMap::new(),
            max_head_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
            max_body_bytes: 1 << 20,
            header_timeout: 10.0,
            body_timeout: 10.0,
            keepalive_timeout: 15.0,
            send_timeout: 10.0,
            max_connections_per_worker: 1024,
            sendfile_min_bytes: 64 * 1024,
            open_file_cache_valid: 1.0,
        }
    }
}

/// Timeouts, checked positive.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Whole request head.
    pub header: Duration,
    /// Stall in a body.
    pub body: Duration,
    /// Idle keep-alive.
    pub keepalive: Duration,
    /// Stall while sending.
    pub send: Duration,
}

/// The validated configuration a service runs with.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The settings as given.
    pub settings: HttpSettings,
    /// Canonical document root, or `None` for the welcome site.
    pub root: Option<PathBuf>,
    /// Request limits.
    pub limits: Limits,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Validity of a cached small file (zero: no cache).
    pub file_cache: Duration,
    /// Key blamed when binding fails.
    pub port_key: String,
}

impl HttpConfig {
    /// Extracts and checks the settings; `handlers` and `loggers` are the names registered.
    pub fn from_settings(
        s: &Settings<'_>,
        handlers: &[String],
        loggers: &[String],
    ) -> Result<Self, ConfigErrors> {
        let settings: HttpSettings = s.extract()?;
        let mut errs = Vec::new();
        if settings.listen_port == 0 {
            errs.push(s.error("listen_port", "must be a port number from 1 to 65535"));
        }
        let root = root(s, &settings, &mut errs);
        if !settings.status_path.is_empty() && !settings.status_path.starts_with('/') {
            errs.push(s.error("status_path", "must be empty (off) or start with /"));
        }
        for (prefix, name) in &settings.mounts {
            if !prefix.starts_with('/') {
                errs.push(s.error("mounts", format!("prefix {prefix:?} must start with /")));
            }
            if !handlers.contains(name) {
                let known = if handlers.is_empty() {
                    "none".into()
                } else {
                    handlers.join(", ")
                };
                errs.push(s.error(
                    "mounts",
                    format!("no handler named {name:?} is registered (registered: {known})"),
                ));
            }
        }
        logger(s, &settings, loggers, &mut errs);
        let positive = |v: usize, key: &str, errs: &mut Vec<ConfigError>| {
            if v == 0 {
                errs.push(s.error(key, "must be at least 1"));
            }
        };
        positive(settings.max_head_bytes, "max_head_bytes", &mut errs);
        positive(settings.max_uri_bytes, "max_uri_bytes", &mut errs);
        positive(settings.max_headers, "max_headers", &mut errs);
        positive(
            settings.max_connections_per_worker,
            "max_connections_per_worker",
            &mut errs,
        );
        let mut secs = |v: f64, key: &str| {
            let d = Duration::try_from_secs_f64(v).ok().filter(|d| !d.is_zero());
            if d.is_none() {
                errs.push(s.error(key, "must be a positive number of seconds"));
            }
            d.unwrap_or_default()
        };
        let timeouts = Timeouts {
            header: secs(settings.header_timeout, "header_timeout"),
            body: secs(settings.body_timeout, "body_timeout"),
            keepalive: secs(settings.keepalive_timeout, "keepalive_timeout"),
            send: secs(settings.send_timeout, "send_timeout"),
        };
        let file_cache = Duration::try_from_secs_f64(settings.open_file_cache_valid)
            .unwrap_or_else(|_| {
                errs.push(s.error(
                    "open_file_cache_valid",
                    "must be 0 (off) or a positive number of seconds",
                ));
                Duration::ZERO
            });
        if !errs.is_empty() {
            return Err(ConfigErrors(errs));
        }
        Ok(Self {
            limits: Limits {
                max_head_bytes: settings.max_head_bytes,
                max_uri_bytes: settings.max_uri_bytes,
                max_headers: settings.max_headers,
                max_body_bytes: settings.max_body_bytes,
            },
            timeouts,
            file_cache,
            root,
            port_key: s.key("listen_port"),
            settings,
        })
    }
}

/// `logger_adapter` is built in or registered, and `access_log` is set only for `file`.
fn logger(s: &Settings<'_>, st: &HttpSettings, loggers: &[String], errs: &mut Vec<ConfigError>) {
    use crate::access_log::{FILE, ZEUS};
    let a = st.logger_adapter.as_str();
    if a != FILE && a != ZEUS && !loggers.iter().any(|l| l == a) {
        let mut known = vec![FILE.to_string(), ZEUS.to_string()];
        known.extend(loggers.iter().cloned());
        errs.push(s.error(
            "logger_adapter",
            format!("unknown logger {a:?} (known: {})", known.join(", ")),
        ));
    } else if a != FILE && !st.access_log.is_empty() {
        errs.push(s.error(
            "access_log",
            format!("is the file of logger_adapter = \"file\"; it must be empty with {a:?}"),
        ));
    }
}

/// The canonical document root (must be a directory), or `None` when unset.
fn root(s: &Settings<'_>, st: &HttpSettings, errs: &mut Vec<ConfigError>) -> Option<PathBuf> {
    if st.document_root.as_os_str().is_empty() {
        return None;
    }
    match std::fs::canonicalize(&st.document_root) {
        Ok(p) if p.is_dir() => Some(p),
        Ok(_) => {
            errs.push(s.error("document_root", "is not a directory"));
            None
        }
        Err(e) => {
            errs.push(s.error("document_root", format!("cannot be opened: {e}")));
            None
        }
    }
}
