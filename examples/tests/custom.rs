//! The library-API example, built and run for real: `zeus-custom` serves its own `uppercase`
//! service with its own discipline through zeus's CLI, and its `leaky` service shows
//! `max_process_memory` recycling workers under the process and hybrid MPMs.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zeus-custom");

/// A running `zeus-custom start` in a temp dir; stopped (then killed) on drop.
struct Instance {
    dir: PathBuf,
    config: PathBuf,
    child: Child,
}

impl Instance {
    fn start(tag: &str, body: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("zeus-example-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("zeus.toml");
        let text = format!(
            "run_dir = \"{}/run\"\n[logger]\nshow_banner = false\n{body}",
            dir.display()
        );
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.join("zeus.log")).unwrap();
        let child = Command::new(BIN)
            .args(["-c", config.to_str().unwrap(), "start"])
            .current_dir(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { dir, config, child }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    /// `status SERVICE --json` of the running instance, polled until `pred` holds.
    fn wait_status(
        &self,
        service: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let out = self.cli(&["status", service, "--json"]);
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let svc = v["services"][0].clone();
                if pred(&svc) {
                    return svc;
                }
            }
            assert!(
                Instant::now() < deadline,
                "status of {service} never matched; last: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to 127.0.0.1:`port` (retrying for up to 10 s), with a 10 s read timeout.
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < deadline, "connect {port}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn ask(port: u16, line: &str) -> String {
    let s = connect(port);
    (&s).write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer).unwrap();
    answer
}

fn pool(mpm: &str, extra: &str) -> String {
    format!(
        "[schedulers.s]\nmultiprocessing_module = \"{mpm}\"\nthreads_per_process = 2\nstart_processes = 2\nmax_processes = 4\nmin_spare_processes = 1\nmax_spare_processes = 4\n{extra}\n"
    )
}

#[test]
fn a_custom_service_and_discipline_run_through_the_zeus_cli() {
    let port = free_port();
    let z = Instance::start(
        "upper",
        &format!(
            "{}[services.up]\nscheduler_name = \"s\"\nservice_adapter = \"uppercase\"\n[services.up.service_settings]\nlisten_port = {port}\n",
            pool("process", "scheduler_discipline = \"newest_first\"")
        ),
    );
    assert_eq!(ask(port, "hello zeus"), "HELLO ZEUS\n");
    let st = z.wait_status("up", |s| s["workers_total"] == 2);
    assert_eq!(st["discipline"], "newest_first");
    let list = z.cli(&["list", "up", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let adapter = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "services.up.service_adapter")
        .unwrap()
        .clone();
    assert_eq!(adapter["value"], "uppercase");
}

#[test]
fn a_custom_plugin_vetoes_workers_beyond_its_cap() {
    let port = free_port();
    let z = Instance::start(
        "cap",
        &format!(
            "{}[services.up]\nscheduler_name = \"s\"\nservice_adapter = \"uppercase\"\n[services.up.service_settings]\nlisten_port = {port}\n",
            pool("process", "plugins = [{ name = \"worker_cap\", max_workers = 1 }]")
        ),
    );
    // start_processes is 2, but the plugin refuses the second worker.
    let st = z.wait_status("up", |s| {
        s["workers_total"] == 1 && s["workers_by_state"]["WAITING"] == 1
    });
    assert_eq!(st["workers_spawned"], 1, "{st}");
    assert_eq!(ask(port, "capped"), "CAPPED\n");
    // A missing option is refused before anything starts (another run dir: not this instance).
    let other = z.dir.join("other-run");
    let set = "schedulers.s.plugins=[{ name = \"worker_cap\" }]";
    let out = z.cli(&["--run-dir", other.to_str().unwrap(), "--set", set, "start"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("schedulers.s.plugins.0.max_workers"));
}

#[test]
fn workers_that_crash_at_start_are_replaced_with_a_growing_delay() {
    let port = free_port();
    let z = Instance::start(
        "crashy",
        &format!(
            "{}[services.c]\nscheduler_name = \"s\"\nservice_adapter = \"crashy\"\n[services.c.service_settings]\nlisten_port = {port}\n",
            pool("process", "")
        ),
    );
    // Delays of 100, 200, 400, 800 ms ... after the first crash: within about 2 s there are
    // only a handful of attempts, not a fork storm.
    let first = z.wait_status("c", |s| s["workers_spawned"].as_u64() >= Some(3));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let later = z.wait_status("c", |_| true);
    let attempts =
        later["workers_spawned"].as_u64().unwrap() - first["workers_spawned"].as_u64().unwrap();
    assert!(
        attempts <= 4,
        "{attempts} workers started in {:?} while every one crashes at start",
        t0.elapsed()
    );
    let log = std::fs::read_to_string(z.dir.join("zeus.log")).unwrap_or_default();
    for delay in [
        "(1 in a row): next one in 100ms",
        "(2 in a row): next one in 200ms",
        "(3 in a row): next one in 400ms",
    ] {
        assert!(
            log.contains(delay),
            "the delay grows: {delay} missing in\n{log}"
        );
    }
}

#[test]
fn an_unknown_custom_name_is_still_refused_with_the_choices() {
    let dir = std::env::temp_dir().join(format!("zeus-example-{}-bad", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("zeus.toml");
    let body = format!(
        "{}[services.up]\nscheduler_name = \"s\"\nservice_adapter = \"upper\"\n",
        pool("process", "")
    );
    std::fs::write(&cfg, body).unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("start")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("services.up.service_adapter")
            && err.contains("uppercase")
            && err.contains("leaky"),
        "{err}"
    );
}

fn leaky_workers_are_recycled_by_memory(mpm: &str) {
    let port = free_port();
    let z = Instance::start(
        &format!("leaky-{mpm}"),
        &format!(
            "{}[services.leak]\nscheduler_name = \"s\"\nservice_adapter = \"leaky\"\n[services.leak.service_settings]\nlisten_port = {port}\nleak_bytes = 4194304\n",
            pool(mpm, "max_process_tasks = 0\nmax_process_memory = \"24M\"")
        ),
    );
    let first = z.wait_status("leak", |s| s["workers_total"] == 2);
    let pids = |s: &serde_json::Value| -> Vec<u64> {
        s["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["pid"].as_u64().unwrap())
            .collect()
    };
    let before = pids(&first);
    // 4 MiB per task on top of a few MiB: every worker process passes 24 MiB within 8 tasks.
    for _ in 0..24 {
        assert_eq!(ask(port, "x"), "ok\n");
    }
    // Every first-generation process is gone. The pool may end above its start size: hybrid
    // grows a whole process (2 threads) while another retires, and 4 idle threads are within
    // max_spare.
    let after = z.wait_status("leak", |s| {
        s["workers_total"].as_u64() >= Some(2) && pids(s).iter().all(|p| !before.contains(p))
    });
    assert!(after["workers_spawned"].as_u64().unwrap() > 2, "{after}");
}

#[test]
fn memory_recycling_under_the_process_mpm() {
    leaky_workers_are_recycled_by_memory("process");
}

#[test]
fn memory_recycling_under_the_hybrid_mpm() {
    leaky_workers_are_recycled_by_memory("hybrid");
}

/// Sends one raw HTTP request (with `Connection: close`) and returns the whole answer.
fn http(port: u16, request: &str) -> String {
    let s = connect(port);
    (&s).write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut &s, &mut answer).unwrap();
    answer
}

#[test]
fn the_json_api_handler_is_mounted_by_name_and_answers() {
    let port = free_port();
    let z = Instance::start(
        "json-api",
        &format!(
            "{}[services.web]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
             [services.web.service_settings]\nlisten_port = {port}\nmounts = {{ \"/api\" = \"json_api\" }}\n",
            pool("process", "")
        ),
    );
    let hello = http(
        port,
        "GET /api/hello?name=zeus HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(hello.starts_with("HTTP/1.1 200 OK\r\n"), "{hello}");
    assert!(
        hello.contains("Content-Type: application/json\r\n"),
        "{hello}"
    );
    assert!(hello.ends_with("{\"hello\":\"zeus\"}\n"), "{hello}");
    let body = "[1,2,3.5]";
    let sum = http(
        port,
        &format!(
            "POST /api/sum HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(sum.ends_with("{\"count\":3,\"sum\":6.5}\n"), "{sum}");
    let wrong = http(
        port,
        "GET /api/sum HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(wrong.starts_with("HTTP/1.1 405 "), "{wrong}");
    assert!(wrong.contains("Allow: POST\r\n"), "{wrong}");
    // A streamed body: chunked for HTTP/1.1, delimited by the close for HTTP/1.0.
    let lines = http(
        port,
        "GET /api/count?n=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(lines.contains("Transfer-Encoding: chunked\r\n"), "{lines}");
    assert!(!lines.contains("Content-Length"), "{lines}");
    assert!(
        lines.ends_with("\r\n\r\n18\r\n{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n\r\n0\r\n\r\n"),
        "{lines:?}"
    );
    let old = http(port, "GET /api/count?n=2 HTTP/1.0\r\n\r\n");
    assert!(old.ends_with("\r\n\r\n{\"i\":0}\n{\"i\":1}\n"), "{old:?}");
    assert!(
        old.contains("Connection: close\r\n") && !old.contains("chunked"),
        "{old}"
    );
    // Outside the mount: the bundled welcome site.
    let site = http(
        port,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(site.contains("zeus is serving this page"), "{site}");
    // Every request is a task, the 405 and the site included.
    z.wait_status("web", |s| s["tasks_done"].as_u64() >= Some(4));
}

#[test]
fn a_registered_access_logger_is_chosen_by_logger_adapter() {
    let port = free_port();
    let z = Instance::start(
        "json-log",
        &format!(
            "{}[services.web]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
             [services.web.service_settings]\nlisten_port = {port}\nlogger_adapter = \"json_log\"\n",
            pool("process", "")
        ),
    );
    let hello = http(
        port,
        "GET /zeus.css?v=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(hello.starts_with("HTTP/1.1 200 OK\r\n"), "{hello}");
    let refused = http(port, "BREW / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 501 "), "{refused}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let log = dir_log(&z);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let has = |req: &str, status: u64| {
            lines
                .iter()
                .any(|v| v["request"] == req && v["status"] == status && v["peer"] == "127.0.0.1")
        };
        if has("GET /zeus.css?v=1 HTTP/1.1", 200) && has("BREW / HTTP/1.1", 501) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON access lines in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dir_log(z: &Instance) -> PathBuf {
    z.dir.join("zeus.log")
}

#[test]
fn a_mount_naming_an_unregistered_handler_is_refused() {
    let dir = std::env::temp_dir().join(format!("zeus-example-{}-badmount", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("zeus.toml");
    std::fs::write(
        &config,
        format!(
            "run_dir = \"{}/run\"\n[schedulers.s]\n[services.web]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
             [services.web.service_settings]\nlisten_port = {}\nmounts = {{ \"/x\" = \"nope\" }}\n",
            dir.display(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-c", config.to_str().unwrap(), "start"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("services.web.service_settings.mounts"),
        "{err}"
    );
    assert!(err.contains("registered: json_api"), "{err}");
    // The same for a logger, and access_log beside a logger that does not use it.
    std::fs::write(
        &config,
        format!(
            "run_dir = \"{}/run\"\n[schedulers.s]\n[services.web]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
             [services.web.service_settings]\nlisten_port = {}\nlogger_adapter = \"nope\"\n\
             [services.w2]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
             [services.w2.service_settings]\nlisten_port = {}\nlogger_adapter = \"json_log\"\naccess_log = \"a.log\"\n",
            dir.display(),
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-c", config.to_str().unwrap(), "start"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("services.web.service_settings.logger_adapter")
            && err.contains("known: file, zeus, json_log"),
        "{err}"
    );
    assert!(
        err.contains("services.w2.service_settings.access_log"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
