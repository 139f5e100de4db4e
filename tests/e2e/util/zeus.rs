//! `ZeusProcess`: one `zeus start` instance in a temp dir of its own, and the guard that stops
//! it and checks that it left nothing behind.
//!
//! Invariants:
//! - the manager runs with cwd = the test dir, a run dir inside it, no inherited `ZEUS_*`
//!   variable, and stdout/stderr appended to `zeus.log` there (printed when a test fails);
//! - readiness is polled through `zeus status --json` (never a TCP connect: one connection is
//!   one task, which would skew task counts and `max_process_tasks`);
//! - every scheduler and worker seen through `status` is remembered (pid + start time), and on
//!   drop each must be gone, as must `/dev/shm/zeus.<instance>.*`, `zeus.pid` and `zeus.sock`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::procfs::ProcId;
use super::spec::Spec;
use super::{
    count, run_bounded, wait_for, worker_pids, zeus_command, CliOutput, TestDir, CLI_TIMEOUT, POLL,
    SOON,
};

/// Longest wait for an instance to have all its services' workers WAITING.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the guard lets a SIGTERM-ed manager stop before it kills it.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running (or prepared) `zeus start`; stops it and checks for leaks on drop.
pub struct ZeusProcess {
    spec: Spec,
    config: Option<PathBuf>,
    child: Option<Child>,
    /// `zeus.<instance>.` prefix of the instance's `/dev/shm` objects, once seen.
    shm_prefix: Option<String>,
    /// Schedulers and workers seen through `zeus status`.
    seen: Mutex<Vec<ProcId>>,
    /// The manager was SIGKILLed: its pid file and socket are expected to remain.
    stale_ok: bool,
    /// Last, so it is removed after the checks.
    dir: TestDir,
}

impl ZeusProcess {
    /// Writes the configuration in a new test dir, starts `zeus start` and waits until ready.
    pub fn start(tag: &str, spec: Spec) -> Self {
        let mut z = Self::prepare(tag, spec);
        z.launch();
        z
    }

    /// Writes the configuration in a new test dir; nothing runs yet (see `launch`).
    pub fn prepare(tag: &str, spec: Spec) -> Self {
        let dir = TestDir::new(tag);
        let config = spec.config.as_deref().map(|c| dir.write("zeus.toml", c));
        Self {
            spec,
            config,
            child: None,
            shm_prefix: None,
            seen: Mutex::new(Vec::new()),
            stale_ok: false,
            dir,
        }
    }

    /// Starts the manager (again, after `kill_manager`) and waits until it is ready.
    pub fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open zeus.log");
        let mut cmd = self.cli(&["start"]);
        if let Some(s) = &self.spec.only {
            cmd.arg(s);
        }
        cmd.stdout(log.try_clone().expect("dup log")).stderr(log);
        self.child = Some(cmd.spawn().expect("spawn zeus start"));
        self.stale_ok = false;
        self.wait_ready();
    }

    /// A `zeus` command for this instance: cwd, run dir, config file, env and `--set` flags.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = zeus_command(self.dir.path());
        cmd.arg("--run-dir").arg(self.run_dir());
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        for s in &self.spec.sets {
            cmd.arg("--set").arg(s);
        }
        cmd.envs(self.spec.env.iter().map(|(k, v)| (k, v)));
        cmd.args(args);
        cmd
    }

    /// Runs a CLI command to completion (bounded).
    pub fn run(&self, args: &[&str]) -> CliOutput {
        run_bounded(&mut self.cli(args), CLI_TIMEOUT)
    }

    /// `zeus status --json`, which must succeed.
    pub fn status(&self) -> Value {
        let out = self.run(&["status", "--json"]);
        assert_eq!(out.code, 0, "zeus status --json\n{out}");
        let v: Value = serde_json::from_str(&out.stdout).expect("status JSON");
        for s in v["services"].as_array().expect("services array") {
            self.remember(s);
        }
        v
    }

    /// `zeus status SERVICE --json` (with worker rows), or `None` when it is not running.
    pub fn try_service(&self, name: &str) -> Option<Value> {
        let out = self.run(&["status", name, "--json"]);
        if out.code == 3 {
            return None;
        }
        assert_eq!(out.code, 0, "zeus status {name} --json\n{out}");
        let v: Value = serde_json::from_str(&out.stdout).expect("status JSON");
        let s = v["services"][0].clone();
        assert_eq!(s["service"], name, "status {name}: {v:#}");
        self.remember(&s);
        Some(s)
    }

    /// `zeus status SERVICE --json`, which must be running.
    pub fn service(&self, name: &str) -> Value {
        self.try_service(name)
            .unwrap_or_else(|| panic!("service {name} is not running"))
    }

    /// `zeus list [SERVICE] --json`, which must succeed.
    pub fn list(&self, service: Option<&str>) -> Value {
        let mut args = vec!["list"];
        args.extend(service);
        args.push("--json");
        let out = self.run(&args);
        assert_eq!(out.code, 0, "zeus {args:?}\n{out}");
        serde_json::from_str(&out.stdout).expect("list JSON")
    }

    /// The scheduler and workers of `service` (scheduler first), as processes.
    pub fn processes(&self, service: &str) -> Vec<ProcId> {
        let s = self.service(service);
        let mut pids = vec![s["scheduler_pid"].as_i64().expect("scheduler pid") as i32];
        pids.extend(worker_pids(&s));
        pids.into_iter()
            .map(|p| ProcId::of(p).unwrap_or_else(|| panic!("process {p} from status is gone")))
            .collect()
    }

    /// Polls `zeus status SERVICE --json` until `f` accepts it.
    pub fn wait_service<T>(
        &self,
        name: &str,
        what: &str,
        mut f: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        let mut last = Value::Null;
        let deadline = Instant::now() + SOON;
        loop {
            if let Some(s) = self.try_service(name) {
                if let Some(v) = f(&s) {
                    return v;
                }
                last = s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {SOON:?} waiting for {name}: {what}\nlast status: {last:#}"
                );
            }
            std::thread::sleep(POLL);
        }
    }

    fn remember(&self, service: &Value) {
        let mut pids = vec![service["scheduler_pid"].as_i64().unwrap_or(0) as i32];
        if let Some(rows) = service["workers"].as_array() {
            pids.extend(rows.iter().map(|w| w["pid"].as_i64().unwrap_or(0) as i32));
        }
        let mut seen = self.seen.lock().expect("seen lock");
        for p in pids.into_iter().filter(|&p| p > 0).filter_map(ProcId::of) {
            if !seen.contains(&p) {
                seen.push(p);
            }
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let services = self.spec.services.clone();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("zeus start exited with {status} before it was ready");
            }
            let ready: Option<Vec<Value>> = services
                .iter()
                .map(|name| {
                    let s = self.try_service(name)?;
                    let start = s["limits"]["start"].as_u64()?;
                    (count(&s, "WAITING") >= start).then_some(s)
                })
                .collect();
            if let Some(ready) = ready {
                let sched = ready[0]["scheduler_pid"].as_i64().expect("scheduler pid");
                self.shm_prefix = Some(shm_prefix_of(sched as i32));
                return;
            }
            if Instant::now() >= deadline {
                panic!("zeus was not ready within {READY_TIMEOUT:?} (services {services:?})");
            }
            std::thread::sleep(POLL);
        }
    }

    /// The instance's run dir.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.run_dir()
    }

    /// The configuration file, if the spec has one.
    pub fn config_path(&self) -> &Path {
        self.config
            .as_deref()
            .expect("this instance has a config file")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("zeus.log")
    }

    /// Everything the instance logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until the log contains `text`.
    pub fn wait_log(&self, text: &str) {
        wait_for(&format!("{text:?} in the zeus log"), SOON, || {
            self.log().contains(text).then_some(())
        });
    }

    /// Pid of the `zeus start` process (the manager).
    pub fn manager_pid(&self) -> i32 {
        self.child.as_ref().expect("zeus was started").id() as i32
    }

    /// The instance id (8 hex digits) in its shared-memory names.
    pub fn instance(&self) -> &str {
        let p = self.shm_prefix.as_deref().expect("instance seen at start");
        &p["zeus.".len()..p.len() - 1]
    }

    /// This instance's scoreboards in `/dev/shm`, sorted (without the schedulers' channels).
    pub fn scoreboards(&self) -> Vec<String> {
        let mut v = self.shm_objects();
        v.retain(|n| n.ends_with(".scoreboard"));
        v
    }

    /// This instance's objects in `/dev/shm` (scoreboards, channel segments), sorted.
    pub fn shm_objects(&self) -> Vec<String> {
        let prefix = self.shm_prefix.as_deref().expect("instance seen at start");
        super::names_in(Path::new("/dev/shm"), prefix)
    }

    /// Sends `sig` to the manager.
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.manager_pid()), sig).expect("signal the manager");
    }

    /// The manager's exit status if it has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().expect("try_wait")
    }

    /// Waits up to `timeout` for the manager to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_for("the manager to exit", timeout, || self.try_exit())
    }

    /// SIGKILLs the manager and reaps it; its pid file and socket may then remain.
    pub fn kill_manager(&mut self) {
        self.signal(Signal::SIGKILL);
        self.wait_exit(SOON);
        self.stale_ok = true;
    }

    /// Stops the manager (SIGTERM, SIGKILL after `STOP_TIMEOUT`) and waits for it.
    fn stop_manager(&mut self, problems: &mut Vec<String>) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() || self.stale_ok => return,
                Ok(Some(status)) => {
                    return problems.push(format!("zeus start exited with {status}"))
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                _ => break,
            }
        }
        problems.push(format!(
            "the manager did not stop within {STOP_TIMEOUT:?} of SIGTERM"
        ));
        let _ = child.kill();
        let _ = child.wait();
    }

    fn leak_check(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        self.stop_manager(&mut problems);
        let seen = self.seen.lock().expect("seen lock").clone();
        let deadline = Instant::now() + SOON;
        let mut left: Vec<ProcId> = seen;
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(ProcId::running);
            std::thread::sleep(POLL);
        }
        if !left.is_empty() {
            problems.push(format!("zeus processes left running: {left:?}"));
            for p in &left {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
        }
        if self.shm_prefix.is_some() {
            let shm = self.shm_objects();
            if !shm.is_empty() {
                problems.push(format!("shared-memory objects left in /dev/shm: {shm:?}"));
                for name in shm {
                    let _ = fs::remove_file(Path::new("/dev/shm").join(name));
                }
            }
        }
        if !self.stale_ok {
            for f in ["zeus.pid", "zeus.sock"] {
                if self.run_dir().join(f).exists() {
                    problems.push(format!(
                        "{f} left in the run dir {}",
                        self.run_dir().display()
                    ));
                }
            }
        }
        problems
    }
}

impl Drop for ZeusProcess {
    fn drop(&mut self) {
        let problems = self.leak_check();
        let failing = std::thread::panicking();
        if failing || !problems.is_empty() {
            eprintln!(
                "===== zeus log ({}) =====\n{}===== end of zeus log =====",
                self.log_path().display(),
                self.log()
            );
        }
        if !problems.is_empty() {
            let msg = format!("zeus left things behind:\n  {}", problems.join("\n  "));
            if failing {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// `zeus.<instance>.` as the scheduler `pid` has its scoreboard mapped (`/proc/PID/maps`).
fn shm_prefix_of(pid: i32) -> String {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).expect("read the scheduler's maps");
    let name = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|p| p.strip_prefix("/dev/shm/"))
        .find(|n| n.starts_with("zeus.") && n.ends_with(".scoreboard"))
        .unwrap_or_else(|| panic!("scheduler {pid} maps no /dev/shm/zeus.*.scoreboard:\n{maps}"));
    let instance = name["zeus.".len()..]
        .split('.')
        .next()
        .expect("instance part");
    assert!(
        instance.len() == 8 && instance.bytes().all(|b| b.is_ascii_hexdigit()),
        "scoreboard {name}: the instance id is not 8 hex digits"
    );
    format!("zeus.{instance}.")
}
