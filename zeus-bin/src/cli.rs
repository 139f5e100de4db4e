//! Command-line flags (clap derive). Global flags go into the last configuration layer.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use zeus_core::config::ConfigOptions;

/// zeus: a multitasking runtime and service manager.
#[derive(Debug, Parser)]
#[command(name = "zeus", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (default: ZEUS_CONFIG, else ./zeus.toml if present).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run directory of the instance (pid file, control socket).
    #[arg(long, global = true, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Override a configuration key, e.g. --set services.echo.service_settings.listen_port=7171
    #[arg(long = "set", short = 's', global = true, value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl Global {
    /// The configuration options these flags describe.
    pub fn options(&self) -> ConfigOptions {
        ConfigOptions {
            file: self.config.clone(),
            run_dir: self.run_dir.clone(),
            overrides: self.overrides.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the services in the foreground (all with auto_start, or SERVICE).
    Start {
        /// Start only this service.
        service: Option<String>,
    },
    /// Stop the running instance gracefully, or only SERVICE.
    Stop {
        /// Stop only this service; the others keep serving.
        service: Option<String>,
    },
    /// Re-read the configuration and replace the workers of changed services, without
    /// refusing a connection (all services, or SERVICE). Same as SIGHUP to `zeus start`.
    Reload {
        /// Reload only this service.
        service: Option<String>,
    },
    /// Reopen the log files after rotation: the manager's, the schedulers' and their
    /// workers'. Same as SIGUSR1 to `zeus start`.
    ReopenLogs,
    /// Show the running services and their workers.
    Status {
        /// Show this service with one row per worker.
        service: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the effective configuration and where each value came from.
    List {
        /// Show only this service (and its scheduler).
        service: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
