//! `zeus stop [SERVICE]`: asks the manager to stop, and waits until it has.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use zeus_core::config::ConfigOptions;
use zeus_core::manager::{request, Request};

/// Longest wait for a graceful stop (the manager kills what outlives `shutdown_timeout`).
const STOP_WAIT: Duration = Duration::from_secs(3700);

pub fn run(opts: &ConfigOptions, service: Option<&str>) -> anyhow::Result<ExitCode> {
    let run = zeus_core::run_dir(opts);
    if run.running_pid().is_none() {
        println!("zeus is not running (run dir {})", run.path().display());
        return Ok(ExitCode::SUCCESS);
    }
    let req = Request::Stop {
        service: service.map(str::to_string),
    };
    let resp = request(&run.socket(), &req, STOP_WAIT)?;
    if !resp.ok {
        bail!("{}", resp.message);
    }
    if service.is_none() {
        // The manager answers just before it exits; wait for its lock to be released.
        for _ in 0..200 {
            if run.running_pid().is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    println!("{}", resp.message);
    Ok(ExitCode::SUCCESS)
}
