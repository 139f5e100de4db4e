//! `zeus status` data: read straight from the scoreboards in `/dev/shm`, so it needs nothing
//! from the manager and answers even while the manager is busy.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::manager::RunDir;
use crate::scoreboard::{Scoreboard, ServiceStatus};

/// A running instance as its scoreboards show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The instance's run directory.
    pub run_dir: PathBuf,
    /// Manager pid.
    pub manager_pid: i32,
    /// Running services, by name.
    pub services: Vec<ServiceStatus>,
}

/// Reads the status of the instance that owns `run`.
pub fn read(run: &RunDir) -> Result<InstanceStatus, CoreError> {
    let manager_pid = run
        .running_pid()
        .ok_or_else(|| CoreError::NotRunning(run.path().to_path_buf()))?;
    let mut services = Vec::new();
    for (_, path) in run.scoreboards() {
        // A scoreboard may vanish between listing and opening (a service stopping): skip it.
        let Ok(board) = Scoreboard::open(&path) else {
            continue;
        };
        // A crashed instance's segment stays until the next start removes it, and its
        // scheduler may linger as a zombie nobody reaps: only this manager's services count.
        if board.manager_pid() != manager_pid {
            continue;
        }
        let snap = board.snapshot();
        if crate::sys::pid_alive(snap.scheduler_pid as i32) {
            services.push(snap);
        }
    }
    Ok(InstanceStatus {
        run_dir: run.path().to_path_buf(),
        manager_pid,
        services,
    })
}
