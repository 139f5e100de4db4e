//! `zeus reopen-logs`: the running instance reopens its log files (after rotation).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use zeus_core::config::ConfigOptions;
use zeus_core::manager::{request, Request};
use zeus_core::CoreError;

pub fn run(opts: &ConfigOptions) -> anyhow::Result<ExitCode> {
    let run = zeus_core::run_dir(opts);
    if run.running_pid().is_none() {
        return Err(CoreError::NotRunning(run.path().to_path_buf()).into());
    }
    let resp = request(&run.socket(), &Request::ReopenLogs, Duration::from_secs(10))?;
    if !resp.ok {
        bail!("{}", resp.message);
    }
    println!("{}", resp.message);
    Ok(ExitCode::SUCCESS)
}
