//! `zeus start [SERVICE]`: the manager, in the foreground.

use std::process::ExitCode;

use zeus_core::config::ConfigOptions;
use zeus_core::Zeus;

pub fn run(opts: &ConfigOptions, service: Option<&str>) -> anyhow::Result<ExitCode> {
    Zeus::new().start(opts, service)?;
    Ok(ExitCode::SUCCESS)
}
