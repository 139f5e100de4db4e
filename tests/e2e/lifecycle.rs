//! The life of an instance: start and serve, parallel clients, worker recycling, recovery
//! from killed workers, schedulers and managers, and instances side by side. Leaks are
//! checked by `ZeusProcess` on drop; a test that must see a clean state at a precise moment
//! checks it itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

use crate::util::{
    count, free_port, port_refuses, wait_for, worker_pids, Client, ProcId, Spec, ZeusProcess,
    SMALL_POOL, SOON,
};

#[test]
fn default_start_serves_echo() {
    let port = free_port();
    let z = ZeusProcess::start("default", Spec::default_echo(port));
    let mut c = Client::connect(port);
    c.assert_echo("hello zeus");
    c.assert_echo("a second line, same task");
    c.assert_echo("");
    drop(c);

    let s = z.wait_service("echo", "one task done", |s| {
        (s["tasks_done"] == 1 && count(s, "RUNNING") == 0).then(|| s.clone())
    });
    assert_eq!(s["mpm"], "process");
    assert_eq!(
        s["limits"],
        json!({"start": 8, "max": 32, "min_spare": 3, "max_spare": 8, "max_tasks": 100})
    );
    assert_eq!(s["workers_total"], 8, "{s:#}");
    // The default set: echo, the memcached-compatible cache and the HTTP service (moved off
    // 11211 and 7070 by the spec).
    let names: Vec<String> = wait_for("the three default services in status", SOON, || {
        let st = z.status();
        let names: Vec<String> = st["services"]
            .as_array()?
            .iter()
            .map(|s| s["service"].as_str().unwrap_or("").to_string())
            .collect();
        (names.len() == 3).then_some(names)
    });
    assert_eq!(names, ["echo", "zeus_httpd", "zeus_memcache"]);
    // A banner, one line for the service and one per worker.
    z.wait_log("multitasking runtime and service manager");
    z.wait_log("ServiceStart: echo");
    z.wait_log("worker 8 started (pid ");
    // Scheduler lines carry the service and the scheduler's pid.
    z.wait_log(&format!(
        "scheduler{{service=echo pid={}}}",
        s["scheduler_pid"]
    ));
}

#[test]
fn eight_held_connections_are_served_in_parallel_and_the_pool_grows() {
    let port = free_port();
    let z = ZeusProcess::start("parallel-8", Spec::default_echo(port));
    let mut clients: Vec<Client> = (0..8).map(|_| Client::connect(port)).collect();
    // Every connection stays open: each answer needs a worker of its own.
    for (i, c) in clients.iter_mut().enumerate() {
        c.assert_echo(&format!("client {i}"));
    }
    let s = z.wait_service("echo", "8 RUNNING and min_spare (3) idle workers", |s| {
        (count(s, "RUNNING") == 8 && count(s, "WAITING") >= 3).then(|| s.clone())
    });
    assert!(s["workers_total"].as_u64() >= Some(11), "{s:#}");
    for (i, c) in clients.iter_mut().enumerate() {
        c.assert_echo(&format!("client {i} again"));
    }
    drop(clients);
    // Idle workers above max_spare (8) are retired, one per second.
    z.wait_service("echo", "8 tasks done, back to 8 workers", |s| {
        (s["tasks_done"] == 8 && s["workers_total"] == 8 && count(s, "WAITING") == 8).then_some(())
    });
}

#[test]
fn sixteen_concurrent_clients_are_served_at_once() {
    const N: usize = 16;
    let port = free_port();
    let spec = Spec::default_echo(port)
        .set("schedulers.zeus_default_scheduler.start_processes=16")
        .set("schedulers.zeus_default_scheduler.max_spare_processes=16");
    let z = ZeusProcess::start("parallel-16", spec);
    let answered = AtomicUsize::new(0);
    let release = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for i in 0..N {
            let (answered, release) = (&answered, &release);
            scope.spawn(move || {
                let mut c = Client::connect(port);
                c.assert_echo(&format!("client {i} line 1"));
                answered.fetch_add(1, Ordering::SeqCst);
                // Hold the connection until all N have been answered at the same time.
                wait_for("the main thread to release the clients", SOON * 2, || {
                    release.load(Ordering::SeqCst).then_some(())
                });
                c.assert_echo(&format!("client {i} line 2"));
            });
        }
        wait_for("all 16 clients answered while connected", SOON, || {
            (answered.load(Ordering::SeqCst) == N).then_some(())
        });
        let s = z.service("echo");
        release.store(true, Ordering::SeqCst);
        assert_eq!(count(&s, "RUNNING"), N as u64, "{s:#}");
    });
    z.wait_service("echo", "16 tasks done, at a rate above 0/s", |s| {
        (s["tasks_done"] == N as u64 && s["tasks_per_sec"].as_f64() > Some(0.0)).then_some(())
    });
}

#[test]
fn a_worker_is_replaced_after_max_process_tasks() {
    let port = free_port();
    let pool = "start_processes = 1\nmax_processes = 2\nmin_spare_processes = 0\n\
                max_spare_processes = 1\nmax_process_tasks = 3\n";
    let z = ZeusProcess::start("recycle", Spec::echo_services(pool, &[("echo", port)]));
    let first = worker_pids(&z.service("echo"))[0];
    let first_proc = ProcId::of(first).expect("first worker exists");
    for i in 0..3 {
        Client::connect(port).assert_echo(&format!("task {i}"));
    }
    let second = z.wait_service("echo", "a new worker WAITING", |s| {
        let pids = worker_pids(s);
        (pids.len() == 1 && pids[0] != first && count(s, "WAITING") == 1).then_some(pids[0])
    });
    let s = z.service("echo");
    assert_eq!(s["tasks_done"], 3, "{s:#}");
    assert_eq!(s["workers_spawned"], 2, "{s:#}");
    wait_for("the recycled worker to be reaped", SOON, || {
        first_proc.reaped().then_some(())
    });
    z.wait_log(&format!("(pid {first}) exited after 3 tasks"));

    Client::connect(port).assert_echo("served by the new worker");
    z.wait_service("echo", "the new worker's first task counted", |s| {
        (worker_pids(s) == [second] && s["workers"][0]["tasks"] == 1 && s["tasks_done"] == 4)
            .then_some(())
    });
}

#[test]
fn a_killed_worker_is_replaced() {
    let port = free_port();
    let z = ZeusProcess::start(
        "kill-worker",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let before = worker_pids(&z.service("echo"));
    let victim = ProcId::of(before[0]).expect("worker exists");
    kill(Pid::from_raw(victim.pid), Signal::SIGKILL).expect("kill -9 a worker");
    let s = z.wait_service("echo", "a replacement WAITING", |s| {
        let pids = worker_pids(s);
        (pids.len() == 2 && !pids.contains(&victim.pid) && count(s, "WAITING") == 2)
            .then(|| s.clone())
    });
    assert_eq!(s["workers_spawned"], 3, "{s:#}");
    assert!(
        worker_pids(&s).contains(&before[1]),
        "the other worker is untouched: {s:#}"
    );
    wait_for("the killed worker to be reaped", SOON, || {
        victim.reaped().then_some(())
    });
    z.wait_log(&format!("(pid {}) died", victim.pid));
    Client::connect(port).assert_echo("still serving");
}

#[test]
fn a_killed_manager_leaves_no_process_or_scoreboard_behind() {
    let port = free_port();
    let mut z = ZeusProcess::start(
        "kill-manager",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let mut busy = Client::connect(port);
    busy.assert_echo("busy during the kill");
    let procs = z.processes("echo");
    assert_eq!(procs.len(), 3, "scheduler + 2 workers: {procs:?}");
    assert_eq!(z.scoreboards().len(), 1);

    z.kill_manager();
    let limit = Duration::from_secs(2);
    wait_for(
        "schedulers and workers to exit after the manager's death",
        limit,
        || procs.iter().all(|p| !p.running()).then_some(()),
    );
    wait_for("the scoreboard to be removed", limit, || {
        z.shm_objects().is_empty().then_some(())
    });
    busy.expect_closed(limit);
    wait_for("`zeus status` to report nothing running", limit, || {
        (z.run(&["status"]).code == 3).then_some(())
    });
    assert!(port_refuses(port), "nothing listens on {port} any more");

    // The next start on the same run dir takes over (stale pid file and socket purged).
    z.launch();
    Client::connect(port).assert_echo("a new instance");
}

#[test]
fn a_killed_scheduler_is_restarted_with_fresh_workers() {
    let port = free_port();
    let z = ZeusProcess::start(
        "kill-scheduler",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let old = z.processes("echo");
    kill(Pid::from_raw(old[0].pid), Signal::SIGKILL).expect("kill -9 the scheduler");
    wait_for("the old scheduler's workers to exit", SOON, || {
        old.iter().all(|p| !p.running()).then_some(())
    });
    // Restarted after a backoff (1 s the first time), with a new scoreboard.
    let s = z.wait_service("echo", "a new scheduler with its workers WAITING", |s| {
        (s["scheduler_pid"] != old[0].pid && count(s, "WAITING") == 2).then(|| s.clone())
    });
    assert_eq!(s["workers_spawned"], 2, "a fresh scoreboard: {s:#}");
    assert_eq!(z.scoreboards().len(), 1);
    // The manager removed the dead scheduler's channel; the new one has its own.
    assert_eq!(
        z.shm_objects(),
        [
            format!("zeus.{}.echo-{}.mmap", z.instance(), s["scheduler_pid"]),
            format!("zeus.{}.echo.scoreboard", z.instance())
        ]
    );
    z.wait_log(&format!("the scheduler of echo (pid {}) died", old[0].pid));
    z.wait_log(&format!(
        "removed the channel objects scheduler {} left",
        old[0].pid
    ));
    Client::connect(port).assert_echo("served again");
}

#[test]
fn start_service_starts_only_that_service() {
    let (pa, pb) = (free_port(), free_port());
    let spec = Spec::echo_services(SMALL_POOL, &[("alpha", pa), ("beta", pb)]).only("beta");
    let z = ZeusProcess::start("start-one", spec);
    let st = z.status();
    assert_eq!(st["services"].as_array().map(Vec::len), Some(1), "{st:#}");
    assert_eq!(st["services"][0]["service"], "beta");
    Client::connect(pb).assert_echo("beta");
    assert!(port_refuses(pa), "alpha was not started");
}

#[test]
fn a_second_start_on_the_same_run_dir_is_port_refuses() {
    let port = free_port();
    let z = ZeusProcess::start(
        "second-start",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let out = z.run(&["start"]);
    assert_ne!(out.code, 0, "{out}");
    assert_ne!(out.code, 2, "not a configuration error: {out}");
    assert!(
        out.stderr.contains(&format!("pid {}", z.manager_pid())),
        "names the pid:\n{out}"
    );
    assert!(out.stderr.contains("already running"), "{out}");
    // The running instance is untouched.
    assert_eq!(z.status()["manager_pid"], z.manager_pid());
    assert!(z.run_dir().join("zeus.sock").exists());
    Client::connect(port).assert_echo("still here");
}

#[test]
fn two_instances_run_side_by_side() {
    let (p1, p2) = (free_port(), free_port());
    let z1 = ZeusProcess::start("side-1", Spec::echo_services(SMALL_POOL, &[("echo", p1)]));
    let mut z2 = ZeusProcess::start("side-2", Spec::echo_services(SMALL_POOL, &[("echo", p2)]));
    assert_ne!(z1.instance(), z2.instance());
    let (s1, s2) = (z1.status(), z2.status());
    assert_eq!(s1["manager_pid"], z1.manager_pid());
    assert_eq!(s2["manager_pid"], z2.manager_pid());
    assert_ne!(
        s1["services"][0]["scheduler_pid"],
        s2["services"][0]["scheduler_pid"]
    );
    let mut c1 = Client::connect(p1);
    c1.assert_echo("one");
    Client::connect(p2).assert_echo("two");

    assert_eq!(z2.run(&["stop"]).code, 0);
    assert!(z2.wait_exit(SOON).success());
    assert!(z2.shm_objects().is_empty());
    c1.assert_echo("one still serves");
    assert_eq!(z1.service("echo")["workers_total"], 2);
}

#[test]
fn echo_bounds_lines_and_drops_idle_clients() {
    let port = free_port();
    let spec = Spec::default_echo(port)
        .env(
            "ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__MAX_LINE_BYTES",
            "16",
        )
        .set("services.echo.service_settings.idle_timeout=0.3");
    let z = ZeusProcess::start("echo-bounds", spec);
    let mut c = Client::connect(port);
    c.assert_echo("fifteen chars!!");
    c.send(&"x".repeat(40));
    assert_eq!(c.read_line(), "ERROR line too long (max 16 bytes)\n");
    c.expect_closed(SOON);

    let mut idle = Client::connect(port);
    idle.assert_echo("then silence");
    let took = idle.expect_closed(SOON);
    assert!(
        took >= Duration::from_millis(200),
        "dropped after {took:?}, idle_timeout is 0.3 s"
    );
    z.wait_service("echo", "both tasks done", |s| {
        (s["tasks_done"] == 2 && count(s, "RUNNING") == 0).then_some(())
    });
}
