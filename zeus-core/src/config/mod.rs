//! Typed configuration: one struct per section, defaults in one place.
//!
//! Layers, later wins (see `load`): embedded `defaults.toml` → embedded `services.toml` (only
//! when no file exists) → `/etc/zeus/zeus.toml` → `./zeus.toml` or `--config`/`ZEUS_CONFIG` →
//! `ZEUS_` environment variables (`__` nests) → command-line flags. Every struct refuses
//! unknown keys; `validate` runs the cross-field checks; every error names key, value and layer.

mod error;
mod list;
mod load;
mod size;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use list::{effective_entries, Entry};
pub use load::{load, run_dir_only, ConfigOptions, Layer, LoadedConfig};
pub use size::ByteSize;
pub use validate::Registries;

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::value::Value;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZeusConfig {
    /// Directory for the pid file and control socket; empty means the per-user default.
    pub run_dir: Option<PathBuf>,
    /// Log output.
    pub logger: LoggerConfig,
    /// The manager process.
    pub manager: ManagerConfig,
    /// Named scheduler configurations.
    pub schedulers: BTreeMap<String, SchedulerConfig>,
    /// Named services.
    pub services: BTreeMap<String, ServiceConfig>,
}

/// `[logger]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggerConfig {
    /// Minimum level logged.
    pub reporting_level: LogLevel,
    /// `stdout`, `stderr` or a file path (appended to).
    pub output: String,
    /// Print the banner at start.
    pub show_banner: bool,
    /// Line format.
    pub format: LogFormat,
}

impl Default for LoggerConfig {
    fn default() -> Self {
        Self {
            reporting_level: LogLevel::Info,
            output: "stdout".into(),
            show_banner: true,
            format: LogFormat::Text,
        }
    }
}

/// Log severity threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation.
    Info,
    /// Verbose.
    Debug,
    /// Very verbose.
    Trace,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[manager]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ManagerConfig {
    /// Manager plugins, in order.
    pub plugins: Vec<PluginSpec>,
}

/// A plugin entry: a bare name, or a table with `name` and its options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PluginSpec {
    /// `"process_title"`.
    Name(String),
    /// `{ name = "drop_privileges", user = "nobody" }`.
    Table(BTreeMap<String, Value>),
}

impl PluginSpec {
    /// The plugin's name, if the entry has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Name(n) => Some(n),
            Self::Table(t) => t.get("name").and_then(Value::as_str),
        }
    }
}

/// `[schedulers.NAME]`: how a service's workers are run and pooled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// `process` (a process per worker), `thread` (a thread per worker, in the scheduler's
    /// process) or `hybrid` (processes of `threads_per_process` threads).
    pub multiprocessing_module: String,
    /// Threads in each process of the `hybrid` MPM (httpd's ThreadsPerChild).
    pub threads_per_process: u32,
    /// Which idle worker to end when there are too many (`lru`).
    pub scheduler_discipline: String,
    /// Workers started with the service.
    pub start_processes: u32,
    /// Upper bound of workers (threads, for `hybrid`).
    pub max_processes: u32,
    /// Tasks after which a worker exits and is replaced (0 = never); shared by the threads of
    /// a `hybrid` process.
    pub max_process_tasks: u64,
    /// Resident memory past which a worker process is recycled, checked between tasks
    /// (0 = never; `"256M"`, `"1G"` or bytes). Not for `thread`, whose workers share memory.
    pub max_process_memory: ByteSize,
    /// Workers that may run beyond `max_processes` while recycled ones finish: a worker
    /// that reaches `max_process_tasks` (or `max_process_memory`) says so before it finishes
    /// its connections, and its replacement starts at once into one of these reserve slots
    /// (rounded up to whole `hybrid` processes). 0: the replacement starts when the old
    /// worker has ended.
    pub recycle_overlap: u32,
    /// Fewer idle workers than this: start more.
    pub min_spare_processes: u32,
    /// More idle workers than this: end some.
    pub max_spare_processes: u32,
    /// Pre-fork spare workers (true), or create workers only when a connection waits and end
    /// them after `process_idle_timeout` (false, php-fpm's `ondemand`).
    pub enable_process_cache: bool,
    /// Seconds an on-demand worker may stay idle.
    pub process_idle_timeout: f64,
    /// Scheduler plugins, in order.
    pub plugins: Vec<PluginSpec>,
    /// Seconds a graceful stop waits for busy workers before killing them.
    pub shutdown_timeout: f64,
    /// Scheduler↔worker channel: `auto` (the first that works of mmap, socket, fifo, sysv),
    /// `fifo`, `sysv`, `mmap` or `socket`. Carries worker reports and log lines, and the
    /// scheduler's commands; never per-task traffic.
    pub ipc_adapter: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            multiprocessing_module: "process".into(),
            threads_per_process: 4,
            scheduler_discipline: "lru".into(),
            start_processes: 8,
            max_processes: 32,
            max_process_tasks: 100,
            max_process_memory: ByteSize(0),
            recycle_overlap: 2,
            min_spare_processes: 3,
            max_spare_processes: 8,
            enable_process_cache: true,
            process_idle_timeout: 10.0,
            plugins: Vec::new(),
            shutdown_timeout: 10.0,
            ipc_adapter: "auto".into(),
        }
    }
}

/// `[services.NAME]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Started by `zeus start` without a service name.
    #[serde(default = "yes")]
    pub auto_start: bool,
    /// The `[schedulers.NAME]` that runs it.
    pub scheduler_name: String,
    /// Which registered service implementation runs (`echo`).
    pub service_adapter: String,
    /// Where the service's own logs go (`default`: the zeus logger).
    #[serde(default = "default_logger")]
    pub logger_adapter: String,
    /// Free-form settings, checked by the service itself.
    #[serde(default)]
    pub service_settings: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

fn default_logger() -> String {
    "default".into()
}
