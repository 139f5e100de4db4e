//! Plugins seen from outside, on the real binary: `process_title` in `/proc/PID/cmdline` and
//! `/proc/PID/comm` for the manager, the scheduler and the workers of each MPM;
//! `drop_privileges` as root (workers run as `nobody`/`nogroup` and still answer; the `thread`
//! scheduler still removes its scoreboard); refusals at start (exit 2, key named).
//!
//! A small local guard starts `zeus` with a config in a temp dir (free port, own run dir),
//! polls with deadlines (never a fixed sleep) and stops or kills it on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(15);

/// A running `zeus start` with its temp dir.
struct ZeusProcess {
    child: Child,
    dir: PathBuf,
    port: u16,
    service: String,
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "zeus-e2e-plugins-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config with one echo service `service` on `port`; `scheduler` is the body of its
/// `[schedulers.s]` section.
fn config(dir: &Path, port: u16, service: &str, manager: &str, scheduler: &str) -> PathBuf {
    let body = format!(
        r#"
run_dir = "{run}"
[logger]
show_banner = false
[manager]
plugins = {manager}
[schedulers.s]
{scheduler}
[services.{service}]
scheduler_name = "s"
service_adapter = "echo"
[services.{service}.service_settings]
listen_port = {port}
"#,
        run = dir.join("run").display()
    );
    let path = dir.join("zeus.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn zeus(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zeus"));
    c.arg("--config").arg(config).arg("start");
    c
}

impl ZeusProcess {
    fn start(service: &str, manager: &str, scheduler: &str) -> Self {
        let dir = temp_dir();
        let port = free_port();
        let cfg = config(&dir, port, service, manager, scheduler);
        let log = std::fs::File::create(dir.join("zeus.log")).unwrap();
        let child = zeus(&cfg)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let z = Self {
            child,
            dir,
            port,
            service: service.into(),
        };
        z.until("the echo service answers", || z.echo("ready").ok());
        z
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("zeus.log")).unwrap_or_default()
    }

    /// One echo round trip (one task).
    fn echo(&self, line: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        writeln!(s, "{line}")?;
        let mut got = String::new();
        BufReader::new(&s).read_line(&mut got)?;
        if got.trim_end() != line {
            return Err(std::io::Error::other(format!("echo returned {got:?}")));
        }
        Ok(got)
    }

    /// Polls `f` until it gives a value; panics with the log after the deadline.
    fn until<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting until {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The scheduler: the manager's only child.
    fn scheduler(&self) -> u32 {
        self.until("the scheduler runs", || {
            children(self.pid()).into_iter().next()
        })
    }

    /// SIGTERM, then waits for the exit.
    fn stop(&mut self) -> ExitStatus {
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "zeus did not stop:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ZeusProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
            let end = Instant::now() + Duration::from_secs(5);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Direct children of `pid`, from `/proc/*/stat` (field 4 is the parent).
fn children(pid: u32) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            stat[close + 1..].split_whitespace().nth(1) == Some(&pid.to_string())
        })
        .collect();
    out.sort_unstable();
    out
}

/// The process title: `/proc/PID/cmdline` up to its first NUL.
fn title(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = raw.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The `Uid:` or `Gid:` line of `/proc/PID/status`, as numbers (real, effective, saved, fs).
fn ids(pid: u32, which: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(which))
        .map(|v| {
            v.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `[schedulers.s]` for `mpm` with two workers at start that stay.
fn pool(mpm: &str, plugins: &str) -> String {
    format!(
        r#"multiprocessing_module = "{mpm}"
threads_per_process = 2
start_processes = 2
max_processes = 4
min_spare_processes = 1
max_spare_processes = 2
plugins = {plugins}"#
    )
}

/// `(worker id, state, tasks)` from `zeus: SVC worker ID [STATE] N task(s)`.
fn parse_worker_title(t: &str, service: &str) -> Option<(u64, String, u64)> {
    let rest = t.strip_prefix(&format!("zeus: {service} worker "))?;
    let (id, rest) = rest.split_once(" [")?;
    let (state, rest) = rest.split_once("] ")?;
    let tasks = rest.strip_suffix(" tasks").or(rest.strip_suffix(" task"))?;
    Some((id.parse().ok()?, state.to_string(), tasks.parse().ok()?))
}

#[test]
fn process_titles_name_the_manager_the_scheduler_and_each_worker() {
    let plugins = r#"["process_title"]"#;
    let z = ZeusProcess::start("titled", plugins, &pool("process", plugins));
    z.echo("one task").unwrap();
    z.until("the manager is titled", || {
        (title(z.pid()) == "zeus: manager").then_some(())
    });
    assert_eq!(comm(z.pid()), "zeus: manager");
    let sched = z.scheduler();
    z.until("the scheduler shows its workers", || {
        (title(sched) == "zeus: titled scheduler [2 workers]").then_some(())
    });
    assert_eq!(comm(sched), "titled schedule", "comm holds 15 bytes");
    // Each worker process shows its id, state and tasks; together they did the two tasks
    // (readiness probe and the one above).
    let workers = z.until("each worker shows its state and tasks", || {
        let titles: Vec<(u32, (u64, String, u64))> = children(sched)
            .into_iter()
            .filter_map(|p| Some((p, parse_worker_title(&title(p), "titled")?)))
            .collect();
        let tasks: u64 = titles.iter().map(|(_, (_, _, n))| n).sum();
        let waiting = titles.iter().all(|(_, (_, s, _))| s == "WAITING");
        (titles.len() == 2 && tasks == 2 && waiting).then_some(titles)
    });
    for (pid, (id, _, _)) in workers {
        let name = format!("titled worker {id}");
        assert_eq!(comm(pid), name[..name.len().min(15)], "set once per worker");
    }
}

#[test]
fn a_hybrid_process_shows_its_threads_and_a_thread_scheduler_its_workers() {
    let plugins = r#"["process_title"]"#;
    let hybrid = ZeusProcess::start("hyb", "[]", &pool("hybrid", plugins));
    let sched = hybrid.scheduler();
    hybrid.until("the hybrid child shows its threads", || {
        let kids = children(sched);
        let t = kids.first().map(|&p| title(p))?;
        (kids.len() == 1 && t == "zeus: hyb workers 1-2 [0 running, 2 waiting] 1 task")
            .then_some(())
    });
    // The manager has no title plugin: it keeps its command line.
    assert!(
        title(hybrid.pid()).ends_with("zeus"),
        "{}",
        title(hybrid.pid())
    );

    let thread = ZeusProcess::start("thr", "[]", &pool("thread", plugins));
    let sched = thread.scheduler();
    thread.until("the thread scheduler shows its workers", || {
        (title(sched) == "zeus: thr scheduler [2 workers, 0 running] 1 task").then_some(())
    });
}

#[test]
fn a_scheduler_without_the_plugin_does_not_inherit_the_managers_title() {
    let z = ZeusProcess::start("plain", r#"["process_title"]"#, &pool("process", "[]"));
    z.until("the manager is titled", || {
        (title(z.pid()) == "zeus: manager").then_some(())
    });
    let sched = z.scheduler();
    let bin = env!("CARGO_BIN_EXE_zeus");
    assert_eq!(title(sched), bin, "the original command line is put back");
    assert_eq!(comm(sched), "zeus", "and the original process name");
    for w in children(sched) {
        assert_eq!(title(w), bin);
    }
}

/// Skips (with a note) unless run as root.
fn root() -> bool {
    let is_root = nix::unistd::geteuid().is_root();
    if !is_root {
        eprintln!("skipped: drop_privileges needs root");
    }
    is_root
}

/// nobody's uid and nogroup's gid, from the system databases.
fn nobody() -> (u32, u32) {
    let user = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let group = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    (user.uid.as_raw(), group.gid.as_raw())
}

const DROP: &str =
    r#"["process_title", { name = "drop_privileges", user = "nobody", group = "nogroup" }]"#;

/// Starts `mpm` with drop_privileges; checks the worker processes' ids and that echo answers.
fn drop_to_nobody(service: &str, mpm: &str) -> ZeusProcess {
    let (uid, gid) = nobody();
    let z = ZeusProcess::start(service, "[]", &pool(mpm, DROP));
    let sched = z.scheduler();
    let workers = if mpm == "thread" {
        vec![sched]
    } else {
        z.until("worker processes run", || {
            let kids = children(sched);
            (!kids.is_empty()).then_some(kids)
        })
    };
    for pid in &workers {
        z.until("the worker runs as nobody", || {
            (ids(*pid, "Uid:") == [uid; 4] && ids(*pid, "Gid:") == [gid; 4]).then_some(())
        });
    }
    assert_eq!(ids(z.pid(), "Uid:"), [0; 4], "the manager keeps root");
    if mpm != "thread" {
        assert_eq!(ids(sched, "Uid:"), [0; 4], "a forking scheduler keeps root");
    }
    for i in 0..4 {
        z.echo(&format!("as nobody {i}")).unwrap();
    }
    z
}

#[test]
fn drop_privileges_runs_process_workers_as_nobody() {
    if root() {
        drop_to_nobody("dropproc", "process");
    }
}

#[test]
fn drop_privileges_runs_hybrid_children_as_nobody() {
    if root() {
        drop_to_nobody("drophyb", "hybrid");
    }
}

#[test]
fn drop_privileges_with_the_thread_mpm_still_removes_the_scoreboard() {
    if !root() {
        return;
    }
    let mut z = drop_to_nobody("dropthr", "thread");
    let status = z.stop();
    assert!(status.success(), "{status:?}\n{}", z.log());
    let leaked: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("zeus.") && n.ends_with(&format!(".{}.scoreboard", z.service)))
        .collect();
    assert!(
        leaked.is_empty(),
        "scoreboard left behind: {leaked:?}\n{}",
        z.log()
    );
}

/// Runs `zeus start` with a config that must be refused; returns (exit code, stderr).
fn refused(service: &str, manager: &str, scheduler: &str) -> (Option<i32>, String) {
    let dir = temp_dir();
    let cfg = config(&dir, free_port(), service, manager, scheduler);
    let mut child = zeus(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("zeus did not refuse the configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_user_or_plugin_refuses_the_start_naming_the_key() {
    let plugins = r#"["process_title", { name = "drop_privileges", user = "no-such-user-zeus" }]"#;
    let (code, err) = refused("baduser", "[]", &pool("process", plugins));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`schedulers.s.plugins.1.user` = \"no-such-user-zeus\""),
        "{err}"
    );
    assert!(err.contains("no such user"), "{err}");

    let (code, err) = refused("badplugin", r#"["process_titel"]"#, &pool("process", "[]"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("`manager.plugins.0` = \"process_titel\""),
        "{err}"
    );
}
