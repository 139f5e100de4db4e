//! `zeus start [SERVICE]`: the manager, in the foreground.

use std::process::ExitCode;

use zeus_core::config::ConfigOptions;

pub fn run(opts: &ConfigOptions, service: Option<&str>) -> anyhow::Result<ExitCode> {
    super::zeus().start(opts, service)?;
    Ok(ExitCode::SUCCESS)
}
