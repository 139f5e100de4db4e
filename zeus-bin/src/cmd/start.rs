//! `zeus start [SERVICE]`: the manager, in the foreground.

use std::process::ExitCode;

use zeus_core::config::ConfigOptions;
use zeus_core::Zeus;

pub fn run(zeus: &Zeus, opts: &ConfigOptions, service: Option<&str>) -> anyhow::Result<ExitCode> {
    zeus.start(opts, service)?;
    Ok(ExitCode::SUCCESS)
}
