//! Plugins seen from outside, on the real binary: `process_title` in `/proc/PID/cmdline` and
//! `/proc/PID/comm` for the manager, the scheduler and the workers of each MPM;
//! `drop_privileges` as root (workers run as `nobody`/`nogroup` and still answer; the `thread`
//! scheduler still removes its scoreboard, which the `ZeusProcess` guard checks); refusals at
//! start (exit 2, key named).

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::{
    free_port, run_bounded, wait_for, worker_pids, zeus_command, Client, Spec, TestDir,
    ZeusProcess, CLI_TIMEOUT, SOON,
};

/// A config with manager plugins `manager`, `[schedulers.s]` = `scheduler`, and one echo
/// service `service` on `port`.
fn config(port: u16, service: &str, manager: &str, scheduler: &str) -> String {
    format!(
        "[logger]\nshow_banner = false\n[manager]\nplugins = {manager}\n[schedulers.s]\n{scheduler}\n\
         [services.{service}]\nscheduler_name = \"s\"\nservice_adapter = \"echo\"\n\
         [services.{service}.service_settings]\nlisten_port = {port}\n"
    )
}

/// Starts `service` with the given plugins; returns the instance and its port.
fn start(service: &str, manager: &str, scheduler: &str) -> (ZeusProcess, u16) {
    let port = free_port();
    let spec = Spec::config(&config(port, service, manager, scheduler), &[service]);
    (ZeusProcess::start(service, spec), port)
}

fn scheduler_of(z: &ZeusProcess, service: &str) -> i32 {
    z.service(service)["scheduler_pid"]
        .as_i64()
        .expect("scheduler pid") as i32
}

/// The process title: `/proc/PID/cmdline` up to its first NUL.
fn title(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = raw.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The `Uid:` or `Gid:` line of `/proc/PID/status`, as numbers (real, effective, saved, fs).
fn ids(pid: i32, which: &str) -> Vec<u32> {
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
        "multiprocessing_module = \"{mpm}\"\nthreads_per_process = 2\nstart_processes = 2\n\
         max_processes = 4\nmin_spare_processes = 1\nmax_spare_processes = 2\nplugins = {plugins}"
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
    let (z, port) = start("titled", plugins, &pool("process", plugins));
    Client::connect(port).assert_echo("one task");
    let manager = z.manager_pid();
    wait_for("the manager is titled", SOON, || {
        (title(manager) == "zeus: manager").then_some(())
    });
    assert_eq!(comm(manager), "zeus: manager");
    let sched = scheduler_of(&z, "titled");
    wait_for("the scheduler shows its workers", SOON, || {
        (title(sched) == "zeus: titled scheduler [2 workers]").then_some(())
    });
    assert_eq!(comm(sched), "titled schedule", "comm holds 15 bytes");
    // Each worker process shows its id, state and tasks; together they did the one task.
    let workers = wait_for("each worker shows its state and tasks", SOON, || {
        let titles: Vec<(i32, (u64, String, u64))> = worker_pids(&z.service("titled"))
            .into_iter()
            .filter_map(|p| Some((p, parse_worker_title(&title(p), "titled")?)))
            .collect();
        let tasks: u64 = titles.iter().map(|(_, (_, _, n))| n).sum();
        let waiting = titles.iter().all(|(_, (_, s, _))| s == "WAITING");
        (titles.len() == 2 && tasks == 1 && waiting).then_some(titles)
    });
    for (pid, (id, _, _)) in workers {
        let name = format!("titled worker {id}");
        assert_eq!(comm(pid), name[..name.len().min(15)], "set once per worker");
    }
}

#[test]
fn a_hybrid_process_shows_its_threads_and_a_thread_scheduler_its_workers() {
    let plugins = r#"["process_title"]"#;
    let (hybrid, port) = start("hyb", "[]", &pool("hybrid", plugins));
    Client::connect(port).assert_echo("one task");
    let child = worker_pids(&hybrid.service("hyb"))[0];
    wait_for("the hybrid child shows its threads", SOON, || {
        (title(child) == "zeus: hyb workers 1-2 [0 running, 2 waiting] 1 task").then_some(())
    });
    // The manager has no title plugin: it keeps its command line.
    let manager = title(hybrid.manager_pid());
    assert!(manager.ends_with("zeus"), "{manager}");

    let (thread, port) = start("thr", "[]", &pool("thread", plugins));
    Client::connect(port).assert_echo("one task");
    let sched = scheduler_of(&thread, "thr");
    wait_for("the thread scheduler shows its workers", SOON, || {
        (title(sched) == "zeus: thr scheduler [2 workers, 0 running] 1 task").then_some(())
    });
}

#[test]
fn a_scheduler_without_the_plugin_does_not_inherit_the_managers_title() {
    let (z, _) = start("plain", r#"["process_title"]"#, &pool("process", "[]"));
    let manager = z.manager_pid();
    wait_for("the manager is titled", SOON, || {
        (title(manager) == "zeus: manager").then_some(())
    });
    let sched = scheduler_of(&z, "plain");
    let bin = env!("CARGO_BIN_EXE_zeus");
    assert_eq!(title(sched), bin, "the original command line is put back");
    assert_eq!(comm(sched), "zeus", "and the original process name");
    for w in worker_pids(&z.service("plain")) {
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
    let (z, port) = start(service, "[]", &pool(mpm, DROP));
    let sched = scheduler_of(&z, service);
    let workers = if mpm == "thread" {
        vec![sched]
    } else {
        worker_pids(&z.service(service))
    };
    for pid in &workers {
        wait_for("the worker runs as nobody", SOON, || {
            (ids(*pid, "Uid:") == [uid; 4] && ids(*pid, "Gid:") == [gid; 4]).then_some(())
        });
    }
    assert_eq!(
        ids(z.manager_pid(), "Uid:"),
        [0; 4],
        "the manager keeps root"
    );
    if mpm != "thread" {
        assert_eq!(ids(sched, "Uid:"), [0; 4], "a forking scheduler keeps root");
    }
    for i in 0..4 {
        Client::connect(port).assert_echo(&format!("as nobody {i}"));
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
    z.signal(Signal::SIGTERM);
    let status = z.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{}", z.log());
    // The guard's drop checks that no /dev/shm object of the instance is left.
}

/// Runs `zeus start` with a config that must be refused; returns the stderr.
fn refused(service: &str, manager: &str, scheduler: &str) -> String {
    let dir = TestDir::new(service);
    let cfg = dir.write(
        "zeus.toml",
        &config(free_port(), service, manager, scheduler),
    );
    let mut cmd = zeus_command(dir.path());
    cmd.arg("--run-dir")
        .arg(dir.run_dir())
        .arg("--config")
        .arg(cfg)
        .arg("start");
    let out = run_bounded(&mut cmd, CLI_TIMEOUT);
    assert_eq!(out.code, 2, "{out}");
    out.stderr
}

#[test]
fn an_unknown_user_or_plugin_refuses_the_start_naming_the_key() {
    let plugins = r#"["process_title", { name = "drop_privileges", user = "no-such-user-zeus" }]"#;
    let err = refused("baduser", "[]", &pool("process", plugins));
    assert!(
        err.contains("`schedulers.s.plugins.1.user` = \"no-such-user-zeus\""),
        "{err}"
    );
    assert!(err.contains("no such user"), "{err}");

    let err = refused("badplugin", r#"["process_titel"]"#, &pool("process", "[]"));
    assert!(
        err.contains("`manager.plugins.0` = \"process_titel\""),
        "{err}"
    );
}
