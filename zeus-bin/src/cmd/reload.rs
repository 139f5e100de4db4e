//! `zeus reload [SERVICE]`: the running instance re-reads its configuration.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use zeus_core::config::ConfigOptions;
use zeus_core::manager::{request, Request};
use zeus_core::CoreError;

pub fn run(opts: &ConfigOptions, service: Option<&str>) -> anyhow::Result<ExitCode> {
    let run = zeus_core::run_dir(opts);
    if run.running_pid().is_none() {
        return Err(CoreError::NotRunning(run.path().to_path_buf()).into());
    }
    let req = Request::Reload {
        service: service.map(str::to_string),
    };
    let resp = request(&run.socket(), &req, Duration::from_secs(30))?;
    if !resp.ok {
        bail!("{}", resp.message);
    }
    println!("{}", resp.message);
    Ok(ExitCode::SUCCESS)
}
