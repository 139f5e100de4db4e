//! One module per subcommand; rendering of tables lives with its command.

mod list;
mod start;
mod status;
mod stop;

use std::process::ExitCode;

use zeus_core::{CoreError, Zeus};

use crate::cli::{Cli, Command};

/// Exit code for a refused configuration.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code when no instance runs (LSB `status`).
pub const EXIT_NOT_RUNNING: u8 = 3;

/// The runtime with every service adapter this binary ships.
pub fn zeus() -> Zeus {
    let mut zeus = Zeus::new();
    zeus.register_service("memcache", zeus_memcache::factory);
    zeus
}

/// Runs the chosen subcommand.
pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let opts = cli.global.options();
    match &cli.command {
        Command::Start { service } => start::run(&opts, service.as_deref()),
        Command::Stop { service } => stop::run(&opts, service.as_deref()),
        Command::Status { service, json } => status::run(&opts, service.as_deref(), *json),
        Command::List { service, json } => list::run(&opts, service.as_deref(), *json),
    }
}

/// Maps an error to the documented exit code.
pub fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    match e.downcast_ref::<CoreError>() {
        Some(CoreError::Config(_)) => ExitCode::from(EXIT_CONFIG),
        Some(CoreError::NotRunning(_)) => ExitCode::from(EXIT_NOT_RUNNING),
        _ => ExitCode::FAILURE,
    }
}
