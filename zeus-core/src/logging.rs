//! Log set-up: `tracing` to stdout, stderr or a file, as text or JSON lines.
//!
//! Every process of an instance writes whole lines with one `write(2)` each, so lines from
//! the manager, schedulers and workers do not interleave. Scheduler and worker lines carry
//! their span (`scheduler{service=… pid=…}`, `worker{service=… id=… pid=…}`).

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;

use tracing_subscriber::filter::LevelFilter;

use crate::config::{LogFormat, LogLevel, LoggerConfig};
use crate::error::CoreError;

const BANNER: &str = r"
  ________  ___  _   _  ___
 |__  / __|| | || | | |/ __|
   / /| _| | |_|| |_| |\__ \
  /___|___| \___/ \___/ |___/
";

/// Installs the global subscriber; prints the banner first when configured.
pub fn init(cfg: &LoggerConfig) -> Result<(), CoreError> {
    let level = match cfg.reporting_level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    let ansi = match cfg.output.as_str() {
        "stdout" => io::stdout().is_terminal(),
        "stderr" => io::stderr().is_terminal(),
        _ => false,
    };
    let result = match (cfg.output.as_str(), cfg.format) {
        ("stdout", LogFormat::Text) => builder.with_ansi(ansi).with_writer(io::stdout).try_init(),
        ("stdout", LogFormat::Json) => builder.json().with_writer(io::stdout).try_init(),
        ("stderr", LogFormat::Text) => builder.with_ansi(ansi).with_writer(io::stderr).try_init(),
        ("stderr", LogFormat::Json) => builder.json().with_writer(io::stderr).try_init(),
        (path, format) => {
            let file = open(path)?;
            let writer = Mutex::new(file);
            match format {
                LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
                LogFormat::Json => builder.json().with_writer(writer).try_init(),
            }
        }
    };
    // A second init in one process (tests) keeps the first subscriber.
    let _ = result;
    Ok(())
}

/// Writes the banner to the configured output.
pub fn banner(cfg: &LoggerConfig, version: &str) -> Result<(), CoreError> {
    if !cfg.show_banner || cfg.format == LogFormat::Json {
        return Ok(());
    }
    let text = format!("{BANNER}  zeus {version}: multitasking runtime and service manager\n\n");
    let res = match cfg.output.as_str() {
        "stdout" => io::stdout().write_all(text.as_bytes()),
        "stderr" => io::stderr().write_all(text.as_bytes()),
        path => open(path)?.write_all(text.as_bytes()),
    };
    res.map_err(CoreError::Io)
}

fn open(path: &str) -> Result<File, CoreError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(CoreError::path(path))
}
