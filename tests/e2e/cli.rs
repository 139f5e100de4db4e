//! The CLI as a user sees it: `zeus status` (text and JSON) against what really runs (checked in
//! `/proc` and over TCP), exit code 3 when nothing runs, and `zeus list` naming the layer of
//! every value (embedded defaults, built-in default, file, environment variable, flag).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::util::{
    children_of, count, free_port, ppid, run_bounded, worker_pids, zeus_command, Client, Spec,
    TestDir, ZeusProcess, CLI_TIMEOUT, ECHO_PORT_ENV, SMALL_POOL,
};

/// 3 workers, 1..4 spares, recycled after 50 tasks: values distinct from every default.
const POOL3: &str = "start_processes = 3
max_processes = 6
min_spare_processes = 1
max_spare_processes = 4
max_process_tasks = 50
";

#[test]
fn status_when_nothing_runs_says_so_in_one_line_and_exits_3() {
    let dir = TestDir::new("not-running");
    let run = dir.run_dir();
    let line = format!("zeus is not running (run dir {})\n", run.display());
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "echo"],
        &["status", "echo", "--json"],
    ] {
        let out = run_bounded(
            zeus_command(dir.path())
                .arg("--run-dir")
                .arg(&run)
                .args(args),
            CLI_TIMEOUT,
        );
        assert_eq!(out.code, 3, "zeus {args:?}\n{out}");
        assert_eq!(out.stdout, line, "zeus {args:?}\n{out}");
    }
    // `stop` with nothing to stop is not an error (LSB: stopping a stopped service succeeds).
    let out = run_bounded(
        zeus_command(dir.path())
            .arg("--run-dir")
            .arg(&run)
            .arg("stop"),
        CLI_TIMEOUT,
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, line, "{out}");
    assert!(!run.join("zeus.pid").exists() && !run.join("zeus.sock").exists());
}

#[test]
fn status_json_matches_the_running_processes() {
    let port = free_port();
    let z = ZeusProcess::start("status-json", Spec::echo_services(POOL3, &[("echo", port)]));
    let st = z.status();
    assert_eq!(st["manager_pid"], z.manager_pid(), "{st:#}");
    assert_eq!(
        st["run_dir"],
        z.run_dir().to_str().expect("utf-8 path"),
        "{st:#}"
    );
    let services = st["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{st:#}");
    let s = &services[0];
    assert_eq!(s["service"], "echo");
    assert_eq!(s["mpm"], "process");
    assert_eq!(s["discipline"], "lru");
    assert_eq!(
        s["limits"],
        json!({"start": 3, "max": 6, "min_spare": 1, "max_spare": 4, "max_tasks": 50})
    );
    assert_eq!(s["workers_by_state"], json!({"WAITING": 3}), "{s:#}");
    assert_eq!(s["workers_total"], 3);
    assert_eq!(s["tasks_done"], 0);
    assert_eq!(s["workers_spawned"], 3);
    assert_eq!(s["stopping"], false);
    assert_eq!(s["workers"], json!([]), "rows only with `status SERVICE`");
    assert!(s["uptime_secs"].as_f64().expect("uptime") > 0.0);

    // The scheduler is the manager's child, and the workers are exactly its children.
    let sched = s["scheduler_pid"].as_i64().expect("scheduler pid") as i32;
    assert_eq!(ppid(sched), Some(z.manager_pid()));
    let one = z.service("echo");
    let mut pids = worker_pids(&one);
    pids.sort_unstable();
    assert_eq!(pids, children_of(sched), "worker rows vs /proc: {one:#}");
    let mut ids = Vec::new();
    for w in one["workers"].as_array().expect("rows") {
        assert_eq!(w["tid"], w["pid"], "process MPM: tid = pid: {w}");
        assert_eq!(w["state"], "WAITING", "{w}");
        assert_eq!(w["tasks"], 0, "{w}");
        assert!(!w["doing"].as_str().expect("doing").is_empty(), "{w}");
        assert!(w["age_secs"].as_f64().expect("age") >= w["idle_secs"].as_f64().expect("idle"));
        ids.push(w["id"].as_u64().expect("id"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "worker ids are distinct: {one:#}");
}

#[test]
fn status_text_shows_limits_counts_and_worker_rows() {
    let port = free_port();
    let z = ZeusProcess::start("status-text", Spec::echo_services(POOL3, &[("echo", port)]));
    let out = z.run(&["status"]);
    assert_eq!(out.code, 0, "{out}");
    let sched = z.status()["services"][0]["scheduler_pid"].clone();
    for want in [
        format!(
            "manager pid {}, run dir {}",
            z.manager_pid(),
            z.run_dir().display()
        ),
        format!("echo: mpm process, discipline lru, ipc mmap, scheduler pid {sched}, up "),
        "limits:  start 3, max 6, spare 1..4, tasks per worker 50".to_string(),
        "workers: 3 (STARTED 0, WAITING 3, RUNNING 0, TERMINATED 0, EXITED 0)".to_string(),
        "tasks:   0 done, 0.00/s, 3 workers started".to_string(),
    ] {
        assert!(out.stdout.contains(&want), "missing {want:?} in:\n{out}");
    }
    assert!(
        !out.stdout.contains("WAITING          0"),
        "no rows without SERVICE:\n{out}"
    );

    let out = z.run(&["status", "echo"]);
    assert_eq!(out.code, 0, "{out}");
    // Rows: ID PID TID STATE TASKS AGE IDLE DOING…
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|id| id.parse::<u64>().is_ok())
        })
        .collect();
    assert!(
        rows.iter()
            .all(|r| r.split_whitespace().nth(3) == Some("WAITING")),
        "{out}"
    );
    assert_eq!(rows.len(), 3, "one row per worker:\n{out}");
    for pid in worker_pids(&z.service("echo")) {
        assert!(
            rows.iter()
                .any(|r| r.split_whitespace().nth(1) == Some(&pid.to_string())),
            "no row for worker pid {pid}:\n{out}"
        );
    }
    let out = z.run(&["status", "nosuch"]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(out.stdout, "service nosuch is not running\n");
}

#[test]
fn a_worker_is_running_while_a_client_holds_its_connection() {
    let port = free_port();
    let z = ZeusProcess::start(
        "running",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let mut c = Client::connect(port);
    c.assert_echo("hello");
    let doing = format!("echo 127.0.0.1:{}", c.local_port());
    let s = z.wait_service("echo", "one RUNNING worker", |s| {
        (count(s, "RUNNING") == 1).then(|| s.clone())
    });
    let busy: Vec<&Value> = s["workers"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|w| w["state"] == "RUNNING")
        .collect();
    assert_eq!(busy.len(), 1, "{s:#}");
    assert_eq!(busy[0]["doing"], doing.as_str(), "{s:#}");
    assert_eq!(busy[0]["idle_secs"], 0.0, "{s:#}");
    let busy_pid = busy[0]["pid"].clone();
    let text = z.run(&["status", "echo"]).stdout;
    assert!(text.contains("RUNNING 1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" RUNNING ") && l.ends_with(&doing)),
        "{text}"
    );

    drop(c);
    let s = z.wait_service("echo", "the task done and its worker WAITING", |s| {
        (count(s, "RUNNING") == 0 && s["tasks_done"] == 1).then(|| s.clone())
    });
    let w = s["workers"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|w| w["pid"] == busy_pid)
        .unwrap_or_else(|| panic!("worker {busy_pid} gone: {s:#}"));
    assert_eq!(w["state"], "WAITING", "{s:#}");
    assert_eq!(w["tasks"], 1, "{s:#}");
}

/// Resumes a SIGSTOPped process when dropped, so a failing test cannot leave it frozen.
struct Frozen(i32);

impl Frozen {
    fn new(pid: i32) -> Self {
        kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("SIGSTOP");
        Self(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

#[test]
fn status_answers_while_the_manager_is_frozen() {
    let port = free_port();
    let z = ZeusProcess::start("frozen", Spec::echo_services(SMALL_POOL, &[("echo", port)]));
    let frozen = Frozen::new(z.manager_pid());
    // Read from the scoreboard: no answer from the manager is needed.
    let st = z.status();
    assert_eq!(st["manager_pid"], z.manager_pid());
    assert_eq!(st["services"][0]["workers_total"], 2);
    Client::connect(port).assert_echo("workers serve without the manager");
    drop(frozen);
}

/// The entry for `key` in a `zeus list --json` answer.
fn entry<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["key"] == key)
        .unwrap_or_else(|| panic!("no entry {key} in {list:#}"))
}

fn assert_entry(list: &Value, key: &str, value: Value, layer: &str) {
    let e = entry(list, key);
    assert_eq!(e["value"], value, "value of {key}: {e}");
    assert_eq!(e["layer"], layer, "layer of {key}: {e}");
}

#[test]
fn list_names_the_file_env_flag_and_default_layers() {
    let port = free_port();
    let env = "ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__MAX_LINE_BYTES";
    let spec = Spec::echo_services(SMALL_POOL, &[("echo", port)])
        .env(env, "4096")
        .set("schedulers.s.max_processes=7");
    let mut z = ZeusProcess::prepare("list-layers", spec);
    let file = format!("file {}", z.config_path().display());
    let check = |list: &Value| {
        assert_entry(
            list,
            "services.echo.service_settings.listen_port",
            json!(port),
            &file,
        );
        assert_entry(list, "schedulers.s.start_processes", json!(2), &file);
        assert_entry(
            list,
            "services.echo.service_settings.max_line_bytes",
            json!(4096),
            &format!("environment variable {env}"),
        );
        assert_entry(
            list,
            "schedulers.s.max_processes",
            json!(7),
            "command-line flag --set schedulers.s.max_processes",
        );
        assert_entry(
            list,
            "services.echo.auto_start",
            json!(true),
            "built-in default",
        );
        assert_entry(
            list,
            "services.echo.service_settings.idle_timeout",
            json!(60.0),
            "built-in default",
        );
        assert_entry(list, "logger.format", json!("text"), "embedded defaults");
    };

    let offline = z.list(None);
    assert_eq!(
        offline["source"],
        "configuration on disk (zeus is not running)"
    );
    check(&offline);

    z.launch();
    let online = z.list(None);
    assert_eq!(
        online["source"],
        format!("running instance (manager pid {})", z.manager_pid())
    );
    check(&online);

    let one = z.list(Some("echo"));
    assert_entry(
        &one,
        "services.echo.service_settings.listen_port",
        json!(port),
        &file,
    );
    assert_entry(
        &one,
        "schedulers.s.max_processes",
        json!(7),
        "command-line flag --set schedulers.s.max_processes",
    );
    for e in one["entries"].as_array().expect("entries") {
        let k = e["key"].as_str().expect("key");
        assert!(
            k.starts_with("services.echo.") || k.starts_with("schedulers.s."),
            "`list echo` shows only echo and its scheduler, not {k}"
        );
    }
    let text = z.run(&["list", "echo"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(
        text.stdout.lines().any(
            |l| l.starts_with("services.echo.service_settings.max_line_bytes")
                && l.contains("= 4096")
                && l.ends_with(&format!("# environment variable {env}"))
        ),
        "{text}"
    );
    let out = z.run(&["list", "nosuch"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("nosuch"), "{out}");
}

#[test]
fn list_of_the_embedded_defaults_shows_an_env_override() {
    let port = free_port();
    let z = ZeusProcess::prepare("list-defaults", Spec::default_echo(port));
    let list = z.list(Some("echo"));
    assert_entry(
        &list,
        "services.echo.service_settings.listen_port",
        json!(port),
        &format!("environment variable {ECHO_PORT_ENV}"),
    );
    for (key, value) in [
        (
            "services.echo.scheduler_name",
            json!("zeus_default_scheduler"),
        ),
        ("services.echo.service_adapter", json!("echo")),
        (
            "services.echo.service_settings.listen_address",
            json!("127.0.0.1"),
        ),
        (
            "schedulers.zeus_default_scheduler.multiprocessing_module",
            json!("process"),
        ),
        (
            "schedulers.zeus_default_scheduler.start_processes",
            json!(8),
        ),
        ("schedulers.zeus_default_scheduler.max_processes", json!(32)),
        (
            "schedulers.zeus_default_scheduler.min_spare_processes",
            json!(3),
        ),
        (
            "schedulers.zeus_default_scheduler.max_spare_processes",
            json!(8),
        ),
        (
            "schedulers.zeus_default_scheduler.max_process_tasks",
            json!(100),
        ),
    ] {
        assert_entry(&list, key, value, "embedded defaults");
    }
    assert_entry(
        &list,
        "services.echo.service_settings.max_line_bytes",
        json!(8192),
        "built-in default",
    );
    // A flag beats the environment.
    let out = z.run(&[
        "--set",
        &format!("services.echo.service_settings.listen_port={}", port + 1),
        "list",
        "echo",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{out}");
    let list: Value = serde_json::from_str(&out.stdout).expect("list JSON");
    assert_entry(
        &list,
        "services.echo.service_settings.listen_port",
        json!(port + 1),
        "command-line flag --set services.echo.service_settings.listen_port",
    );
}

/// The control socket (the `socket` IPC adapter's datagrams) answers a malformed request and
/// an oversized one with an error, and never waits for a client: clients that ask for the
/// whole configuration again and again and never read the replies do not delay or stop the
/// next `zeus list`.
#[test]
fn the_control_socket_refuses_bad_requests_and_never_waits_for_a_client() {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::time::{Duration, Instant};

    let port = free_port();
    let z = ZeusProcess::start(
        "control-bad",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let socket = z.run_dir().join("zeus.sock");
    let client = |name: &str| {
        let me = format!("zeus-e2e-{}-{name}", std::process::id());
        let addr = SocketAddr::from_abstract_name(me.as_bytes()).expect("abstract name");
        let c = UnixDatagram::bind_addr(&addr).expect("bind");
        c.set_read_timeout(Some(CLI_TIMEOUT)).expect("timeout");
        c
    };
    let answer = |c: &UnixDatagram| -> Value {
        let mut buf = vec![0; 1 << 20];
        let n = c.recv(&mut buf).expect("an answer");
        serde_json::from_slice(&buf[..n]).expect("a JSON answer")
    };

    let c = client("bad");
    c.send_to(b"stop everything now", &socket).expect("send");
    let r = answer(&c);
    assert_eq!(r["ok"], json!(false), "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("bad request"),
        "{r}"
    );

    c.send_to(&vec![b' '; 100 * 1024], &socket)
        .expect("send 100 KiB");
    let r = answer(&c);
    assert_eq!(r["ok"], json!(false), "{r}");
    assert!(r["message"].as_str().unwrap().contains("65536"), "{r}");

    // Ten clients that each ask for the whole configuration 50 times and read nothing.
    let silent: Vec<UnixDatagram> = (0..10).map(|i| client(&format!("silent{i}"))).collect();
    for c in &silent {
        c.set_nonblocking(true).expect("nonblocking");
        for _ in 0..50 {
            let _ = c.send_to(br#"{"cmd":"list","service":null}"#, &socket);
        }
    }
    let start = Instant::now();
    let list = z.list(Some("echo"));
    assert!(list.to_string().contains("listen_port"), "{list}");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "zeus list took {took:?}");

    // The manager still answers a well-formed request on a client of its own.
    let c = client("ping");
    c.send_to(br#"{"cmd":"ping"}"#, &socket).expect("send");
    let r = answer(&c);
    assert_eq!(r["ok"], json!(true), "{r}");
    drop(silent);
}
