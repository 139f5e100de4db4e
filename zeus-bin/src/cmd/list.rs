//! `zeus list [SERVICE]`: effective configuration with the layer of every value. Asks the
//! running instance when there is one; otherwise loads the configuration here.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use zeus_core::config::{ConfigOptions, Entry};
use zeus_core::manager::{request, Request};

pub fn run(opts: &ConfigOptions, service: Option<&str>, json: bool) -> anyhow::Result<ExitCode> {
    let run = zeus_core::run_dir(opts);
    let (entries, source) = match run.running_pid() {
        Some(pid) => {
            let req = Request::List {
                service: service.map(str::to_string),
            };
            let resp = request(&run.socket(), &req, Duration::from_secs(10))?;
            if !resp.ok {
                bail!("{}", resp.message);
            }
            (
                resp.entries,
                format!("running instance (manager pid {pid})"),
            )
        }
        None => {
            let prepared = super::zeus()
                .prepare(opts)
                .map_err(zeus_core::CoreError::from)?;
            (
                prepared.entries(None),
                "configuration on disk (zeus is not running)".to_string(),
            )
        }
    };
    let entries: Vec<Entry> = match service {
        Some(name) => {
            let prefix = format!("services.{name}.");
            if !entries.iter().any(|e| e.key.starts_with(&prefix)) {
                bail!("no service named {name} is configured");
            }
            let sched = entries
                .iter()
                .find(|e| e.key == format!("services.{name}.scheduler_name"));
            let sched_prefix = sched
                .and_then(|e| e.value.as_str())
                .map(|s| format!("schedulers.{s}."));
            entries
                .into_iter()
                .filter(|e| {
                    e.key.starts_with(&prefix)
                        || sched_prefix.as_ref().is_some_and(|p| e.key.starts_with(p))
                })
                .collect()
        }
        None => entries,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "source": source, "entries": entries })
            )?
        );
    } else {
        println!("# {source}");
        let kw = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
        let vals: Vec<String> = entries.iter().map(|e| e.value.to_string()).collect();
        let vw = vals.iter().map(String::len).max().unwrap_or(0).min(40);
        for (e, v) in entries.iter().zip(vals) {
            println!("{:kw$} = {:vw$}  # {}", e.key, v, e.layer);
        }
    }
    Ok(ExitCode::SUCCESS)
}
