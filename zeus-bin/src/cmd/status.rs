//! `zeus status [SERVICE]`: read from the scoreboards, as text or JSON.

use std::fmt::Write as _;
use std::process::ExitCode;

use zeus_core::config::ConfigOptions;
use zeus_core::scoreboard::{ServiceStatus, WorkerState};
use zeus_core::CoreError;

use super::EXIT_NOT_RUNNING;

pub fn run(opts: &ConfigOptions, service: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let run = zeus_core::run_dir(opts);
    let mut status = match zeus_core::status::read(&run) {
        Ok(s) => s,
        Err(CoreError::NotRunning(dir)) => {
            println!("zeus is not running (run dir {})", dir.display());
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(name) = service {
        status.services.retain(|s| s.service == name);
        if status.services.is_empty() {
            println!("service {name} is not running");
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
    } else {
        for s in &mut status.services {
            s.workers.clear();
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "zeus {}: manager pid {}, run dir {}\n",
        env!("CARGO_PKG_VERSION"),
        status.manager_pid,
        status.run_dir.display()
    );
    if status.services.is_empty() {
        out.push_str("no service is running\n");
    }
    for s in &status.services {
        render_service(&mut out, s);
        if service.is_some() {
            render_workers(&mut out, s);
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn render_service(out: &mut String, s: &ServiceStatus) {
    let l = &s.limits;
    let counts: Vec<String> = WorkerState::LIVE
        .iter()
        .map(|st| {
            format!(
                "{} {}",
                st.as_str(),
                s.workers_by_state.get(st).copied().unwrap_or(0)
            )
        })
        .collect();
    let stopping = if s.stopping { ", stopping" } else { "" };
    let _ = writeln!(
        out,
        "\n{}: mpm {}, discipline {}, ipc {}, scheduler pid {}, up {}{stopping}",
        s.service,
        s.mpm,
        s.discipline,
        s.ipc_adapter,
        s.scheduler_pid,
        duration(s.uptime_secs)
    );
    let max_tasks = if l.max_tasks == 0 {
        "unlimited".to_string()
    } else {
        l.max_tasks.to_string()
    };
    let _ = writeln!(
        out,
        "  limits:  start {}, max {}, spare {}..{}, tasks per worker {max_tasks}",
        l.start, l.max, l.min_spare, l.max_spare
    );
    let _ = writeln!(
        out,
        "  workers: {} ({})",
        s.workers_total,
        counts.join(", ")
    );
    let _ = writeln!(
        out,
        "  tasks:   {} done, {:.2}/s, {} workers started",
        s.tasks_done, s.tasks_per_sec, s.workers_spawned
    );
}

fn render_workers(out: &mut String, s: &ServiceStatus) {
    let _ = writeln!(
        out,
        "\n  {:>5} {:>8} {:>8} {:10} {:>7} {:>8} {:>8}  DOING",
        "ID", "PID", "TID", "STATE", "TASKS", "AGE", "IDLE"
    );
    for w in &s.workers {
        let idle = if w.state == WorkerState::Waiting {
            duration(w.idle_secs)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "  {:>5} {:>8} {:>8} {:10} {:>7} {:>8} {:>8}  {}",
            w.id,
            w.pid,
            w.tid,
            w.state.as_str(),
            w.tasks,
            duration(w.age_secs),
            idle,
            w.doing
        );
    }
}

fn duration(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}
