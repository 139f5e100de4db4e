//! `service_settings` of a `memcache` service: typed, defaults in `Default`, unknown keys
//! refused, and every cross-field rule checked in `validate` with errors naming the key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeus_core::config::{ConfigError, ConfigErrors};
use zeus_core::service::Settings;

use crate::store::{fs, BackendKind, Geometry, StoreConfig};

/// Smallest `item_size_max` (memcached's floor).
pub const ITEM_SIZE_MIN: u64 = 1024;
/// Largest `item_size_max` accepted.
pub const ITEM_SIZE_LIMIT: u64 = 128 << 20;

/// `services.NAME.service_settings` for `service_adapter = "memcache"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemcacheSettings {
    /// Address to listen on.
    pub listen_address: IpAddr,
    /// TCP port.
    pub listen_port: u16,
    /// Bytes of shared memory for the whole store, metadata included (memcached's `-m`).
    pub memory_limit: u64,
    /// Largest item in bytes (memcached's `-I`).
    pub item_size_max: u64,
    /// Evict old items when full; `false` answers `SERVER_ERROR out of memory` (memcached's `-M`).
    pub evictions: bool,
    /// Open connections over all workers; more are refused with an error line (`-c`).
    pub max_connections: u32,
    /// Seconds a client may stay silent before it is disconnected; 0 = never (memcached's
    /// `idle_timeout`).
    pub idle_timeout: f64,
    /// Where items live: `shm` (shared memory, every MPM), `memory` (process-private, only
    /// with the `thread` MPM), `filesystem` (one file per item under `directory`).
    pub backend: BackendName,
    /// The `filesystem` backend's directory (must exist and be writable).
    pub directory: Option<PathBuf>,
}

/// `backend` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// Shared anonymous memory.
    Shm,
    /// Process-private memory.
    Memory,
    /// A directory, one file per item.
    Filesystem,
}

impl Default for MemcacheSettings {
    fn default() -> Self {
        Self {
            listen_address: IpAddr::from([127, 0, 0, 1]),
            listen_port: 11211,
            memory_limit: 64 << 20,
            item_size_max: 1 << 20,
            evictions: true,
            max_connections: 1024,
            idle_timeout: 0.0,
            backend: BackendName::Shm,
            directory: None,
        }
    }
}

/// Settings after validation.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The raw settings.
    pub settings: MemcacheSettings,
    /// The store to create.
    pub store: StoreConfig,
    /// Idle limit, if any.
    pub idle: Option<Duration>,
}

/// Extracts and checks the settings.
pub fn validate(s: &Settings<'_>) -> Result<Validated, ConfigErrors> {
    let v: MemcacheSettings = s.extract()?;
    let mut errs: Vec<ConfigError> = Vec::new();
    if v.listen_port == 0 {
        errs.push(s.error("listen_port", "must be a port number from 1 to 65535"));
    }
    if !(ITEM_SIZE_MIN..=ITEM_SIZE_LIMIT).contains(&v.item_size_max) {
        errs.push(s.error(
            "item_size_max",
            format!("must be from {ITEM_SIZE_MIN} to {ITEM_SIZE_LIMIT} bytes"),
        ));
    } else if v.item_size_max > v.memory_limit / 2 {
        errs.push(s.error(
            "item_size_max",
            "must not exceed half of memory_limit (as memcached's -I)",
        ));
    } else if let Err(t) = Geometry::new(v.memory_limit as usize, v.item_size_max as usize) {
        errs.push(s.error(
            "memory_limit",
            format!("must be at least {} bytes for this item_size_max", t.min),
        ));
    }
    if v.max_connections == 0 {
        errs.push(s.error("max_connections", "must be at least 1"));
    }
    let idle = if v.idle_timeout == 0.0 {
        None
    } else {
        let d = Duration::try_from_secs_f64(v.idle_timeout).ok();
        if d.is_none() {
            errs.push(s.error(
                "idle_timeout",
                "must be 0 (never) or a positive number of seconds",
            ));
        }
        d
    };
    let backend = match (v.backend, &v.directory) {
        (BackendName::Shm, _) => BackendKind::Shm,
        (BackendName::Memory, _) => {
            if let Some(mpm) = s.mpm().filter(|m| *m != "thread") {
                errs.push(s.error(
                    "backend",
                    format!(
                        "\"memory\" keeps the cache in one process's private memory, so it needs \
                         the thread MPM (this service's scheduler uses {mpm:?}: each worker \
                         process would have its own cache, lost when it is recycled); use \
                         \"shm\" to share the cache between processes"
                    ),
                ));
            }
            BackendKind::Memory
        }
        (BackendName::Filesystem, None) => {
            errs.push(s.error("directory", "is required when backend = \"filesystem\""));
            BackendKind::Shm
        }
        (BackendName::Filesystem, Some(d)) => {
            if let Err(e) = fs::probe(d) {
                errs.push(s.error(
                    "directory",
                    format!(
                        "must be an existing directory where zeus can create files: {}: {e}",
                        d.display()
                    ),
                ));
            }
            BackendKind::Filesystem(d.clone())
        }
    };
    if !matches!(backend, BackendKind::Filesystem(_)) {
        if let Some(avail) = machine_memory().filter(|m| v.memory_limit > *m) {
            errs.push(s.error(
                "memory_limit",
                format!(
                    "must fit in this machine's memory ({avail} bytes of RAM and swap, or the \
                     cgroup's memory.max if lower): the store would be killed when it fills"
                ),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    Ok(Validated {
        store: StoreConfig {
            memory_limit: v.memory_limit as usize,
            item_size_max: v.item_size_max as usize,
            evictions: v.evictions,
            backend,
        },
        idle,
        settings: v,
    })
}

/// Bytes this process may ever hold: RAM + swap (`/proc/meminfo`), or the cgroup v2 limit
/// when lower; `None` when neither can be read.
fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let machine = meminfo.as_deref().and_then(ram_and_swap);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|m| m.trim().parse::<u64>().ok());
    match (machine, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemTotal` + `SwapTotal` of a `/proc/meminfo` text, in bytes.
fn ram_and_swap(meminfo: &str) -> Option<u64> {
    let kib = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((kib("MemTotal:")? + kib("SwapTotal:").unwrap_or(0)) * 1024)
}

#[cfg(test)]
mod tests {
    use super::ram_and_swap;

    #[test]
    fn ram_and_swap_add_up_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree: 1 kB\nSwapTotal:       1024 kB\n";
        assert_eq!(ram_and_swap(text), Some((24_576_000 + 1024) * 1024));
        assert_eq!(ram_and_swap("MemTotal: 4 kB\n"), Some(4096));
        assert_eq!(ram_and_swap("SwapTotal: 4 kB\n"), None);
    }
}
