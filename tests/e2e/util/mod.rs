//! What the e2e tests share: a unique temp dir, free loopback ports, the `zeus` command with a
//! clean environment, bounded runs of CLI commands and bounded polling. Every wait here has a
//! deadline; nothing sleeps as its main way of waiting.

mod client;
mod http;
mod procfs;
mod spec;
mod zeus;

pub use client::Client;
pub use http::{request, HttpConn, HttpResponse};
pub use procfs::{children_of, ppid, ProcId};
pub use spec::{echo_config, Spec};
pub use zeus::ZeusProcess;

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The binary under test.
pub const ZEUS: &str = env!("CARGO_BIN_EXE_zeus");
/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(15);
/// Upper bound for a CLI command (they answer in milliseconds; the machine may be loaded).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound for things that should happen "at once" (a replacement, a stop).
pub const SOON: Duration = Duration::from_secs(5);
/// The env variable that moves the default `echo` service to another port.
pub const ECHO_PORT_ENV: &str = "ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PORT";
/// The env variable that moves the default `zeus_httpd` service (127.0.0.1:7070) to another
/// port, so tests of the embedded defaults run in parallel.
pub const HTTPD_PORT_ENV: &str = "ZEUS_SERVICES__ZEUS_HTTPD__SERVICE_SETTINGS__LISTEN_PORT";
/// The env variable that moves the default `zeus_memcache` service off port 11211.
pub const MEMCACHE_PORT_ENV: &str = "ZEUS_SERVICES__ZEUS_MEMCACHE__SERVICE_SETTINGS__LISTEN_PORT";

/// A small pool for scheduler `s`: 2 workers, up to 4, 1..2 spares.
pub const SMALL_POOL: &str = "start_processes = 2
max_processes = 4
min_spare_processes = 1
max_spare_processes = 2
";

/// A unique directory under the system temp dir, removed when the test passes (kept, and its
/// path printed, when it fails).
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates `zeus-e2e-<pid>-<n>-<tag>` (canonical path, so file layers compare equal).
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("zeus-e2e-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create the test dir");
        let path = fs::canonicalize(&path).expect("canonical test dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The run dir tests give zeus (created by zeus itself).
    pub fn run_dir(&self) -> PathBuf {
        self.path.join("run")
    }

    /// Writes `name` in the directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path.join(name);
        fs::write(&p, contents).expect("write a test file");
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("e2e: test dir kept for inspection: {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Whether 127.0.0.1:`port` refuses connections (nothing listens there).
pub fn port_refuses(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    matches!(
        TcpStream::connect_timeout(&addr, SOON),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// `zeus` run in `dir`, with no `ZEUS_*` variable inherited from the test's environment.
pub fn zeus_command(dir: &Path) -> Command {
    let mut cmd = Command::new(ZEUS);
    cmd.current_dir(dir).stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ZEUS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// The result of a finished CLI command.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl fmt::Display for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion, killing it (and failing) if it takes longer than `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> CliOutput {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zeus");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(out) => {
            let out = out.expect("wait for zeus");
            CliOutput {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let late = rx.recv_timeout(SOON);
            panic!("{cmd:?} did not finish within {timeout:?} (killed it); output: {late:?}");
        }
    }
}

/// Polls `f` every `POLL` until it returns `Some`, failing with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(POLL);
    }
}

/// Workers of a `zeus status --json` service object in `state` (`"WAITING"`, `"RUNNING"`, …).
pub fn count(service: &serde_json::Value, state: &str) -> u64 {
    service["workers_by_state"][state].as_u64().unwrap_or(0)
}

/// Pids of the rows of a `zeus status SERVICE --json` service object.
pub fn worker_pids(service: &serde_json::Value) -> Vec<i32> {
    service["workers"]
        .as_array()
        .expect("workers array")
        .iter()
        .map(|w| w["pid"].as_i64().expect("worker pid") as i32)
        .collect()
}

/// Names in `dir` that start with `prefix`, sorted.
pub fn names_in(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
