//! One module per subcommand; rendering of tables lives with its command.

mod list;
mod reload;
mod reopen_logs;
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

/// Runs the chosen subcommand.
pub fn run(zeus: &Zeus, cli: &Cli) -> anyhow::Result<ExitCode> {
    let opts = cli.global.options();
    match &cli.command {
        Command::Start { service } => start::run(zeus, &opts, service.as_deref()),
        Command::Stop { service } => stop::run(&opts, service.as_deref()),
        Command::Reload { service } => reload::run(&opts, service.as_deref()),
        Command::ReopenLogs => reopen_logs::run(&opts),
        Command::Status { service, json } => status::run(&opts, service.as_deref(), *json),
        Command::List { service, json } => list::run(zeus, &opts, service.as_deref(), *json),
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
