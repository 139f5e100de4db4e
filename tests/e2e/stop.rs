//! Stopping: the whole instance (`zeus stop`, SIGTERM, SIGINT), one service (`zeus stop
//! SERVICE`), gracefully (the task in hand finishes), escalated (`shutdown_timeout`, a second
//! signal), and what a stop leaves behind: nothing.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use crate::util::{
    free_port, port_refuses, wait_for, Client, ProcId, Spec, ZeusProcess, SMALL_POOL, SOON,
};

#[test]
fn stop_service_stops_only_that_service() {
    let (pa, pb) = (free_port(), free_port());
    let spec = Spec::echo_services(SMALL_POOL, &[("alpha", pa), ("beta", pb)]);
    let z = ZeusProcess::start("stop-one", spec);
    let alpha = z.processes("alpha");
    let beta = z.processes("beta");
    let mut held = Client::connect(pb);
    held.assert_echo("beta before");
    assert_eq!(z.scoreboards().len(), 2);

    let out = z.run(&["stop", "alpha"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("service alpha stopped"), "{out}");
    // `zeus stop SERVICE` returns once the stop is done.
    assert!(
        alpha.iter().all(|p| !p.running()),
        "alpha processes left: {alpha:?}"
    );
    assert!(
        beta.iter().all(ProcId::running),
        "beta lost a process: {beta:?}"
    );
    let st = z.status();
    let names: Vec<_> = st["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["service"].clone())
        .collect();
    assert_eq!(names, [json!("beta")], "{st:#}");
    assert_eq!(z.run(&["status", "alpha"]).code, 3);
    let shm = z.shm_objects();
    assert!(
        shm.len() == 2
            && shm[0].starts_with(&format!("zeus.{}.beta-", z.instance()))
            && shm[0].ends_with(".mmap")
            && shm[1].ends_with(".beta.scoreboard"),
        "{shm:?}"
    );
    assert!(port_refuses(pa), "alpha's port is closed");

    held.assert_echo("beta after");
    Client::connect(pb).assert_echo("a new beta client");
    let again = z.run(&["stop", "alpha"]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("already stopped"), "{again}");
}

#[test]
fn a_clean_stop_leaves_no_shm_object_or_socket() {
    let port = free_port();
    let mut z = ZeusProcess::start(
        "clean-stop",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let run = z.run_dir();
    let shm = z.shm_objects();
    let sched = z.service("echo")["scheduler_pid"].clone();
    // The scoreboard and the scheduler channel (`auto` is `mmap` here: one segment).
    assert_eq!(
        shm,
        [
            format!("zeus.{}.echo-{sched}.mmap", z.instance()),
            format!("zeus.{}.echo.scoreboard", z.instance())
        ]
    );
    assert!(run.join("zeus.sock").exists());
    let pid_file = std::fs::read_to_string(run.join("zeus.pid")).expect("pid file");
    assert_eq!(pid_file.trim(), z.manager_pid().to_string());
    Client::connect(port).assert_echo("one task");
    let procs = z.processes("echo");

    let out = z.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    // Right when `zeus stop` returns:
    assert!(z.shm_objects().is_empty(), "{:?}", z.shm_objects());
    assert!(!run.join("zeus.sock").exists() && !run.join("zeus.pid").exists());
    assert!(procs.iter().all(|p| !p.running()), "{procs:?}");
    assert!(z.wait_exit(SOON).success());
    assert_eq!(z.run(&["status"]).code, 3);
    assert!(port_refuses(port));
}

#[test]
fn a_graceful_stop_lets_the_task_in_hand_finish() {
    let port = free_port();
    let mut z = ZeusProcess::start(
        "graceful",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let mut c = Client::connect(port);
    c.assert_echo("before the stop");
    let doing = format!("echo 127.0.0.1:{}", c.local_port());
    let mut stop = z
        .cli(&["stop"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zeus stop");
    z.wait_service("echo", "the service to be stopping", |s| {
        (s["stopping"] == true).then_some(())
    });
    // The idle worker is gone; the busy one keeps serving its client.
    z.wait_service("echo", "only the busy worker left", |s| {
        (s["workers_total"] == 1 && s["workers"][0]["doing"] == doing.as_str()).then_some(())
    });
    c.assert_echo("after the stop was asked");
    assert!(
        stop.try_wait().expect("try_wait").is_none(),
        "`zeus stop` waits for the task"
    );
    assert!(z.try_exit().is_none(), "the manager waits for the task");

    drop(c);
    let status = wait_for("`zeus stop` to return", SOON, || {
        stop.try_wait().expect("try_wait")
    });
    let mut said = String::new();
    let mut out = stop.stdout.take().expect("piped stdout");
    out.read_to_string(&mut said)
        .expect("read zeus stop's output");
    assert!(status.success(), "zeus stop: {status}, said {said:?}");
    assert_eq!(said, "stopped\n");
    assert!(z.wait_exit(SOON).success());
}

#[test]
fn shutdown_timeout_cuts_a_task_that_outlives_it() {
    let port = free_port();
    let pool = format!("{SMALL_POOL}shutdown_timeout = 0.5\n");
    let z = ZeusProcess::start(
        "shutdown-timeout",
        Spec::echo_services(&pool, &[("echo", port)]),
    );
    let mut c = Client::connect(port);
    c.assert_echo("a task that never ends");
    let t0 = Instant::now();
    let out = z.run(&["stop"]);
    let took = t0.elapsed();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        took >= Duration::from_millis(400),
        "stopped before shutdown_timeout: {took:?}"
    );
    assert!(took < SOON, "took {took:?}");
    c.expect_closed(SOON);
    z.wait_log("shutdown_timeout (0.5s) passed");
}

#[test]
fn a_second_signal_stops_at_once() {
    let port = free_port();
    let mut z = ZeusProcess::start(
        "fast-stop",
        Spec::echo_services(SMALL_POOL, &[("echo", port)]),
    );
    let mut c = Client::connect(port);
    c.assert_echo("busy");
    z.signal(Signal::SIGTERM);
    z.wait_service("echo", "the service to be stopping", |s| {
        (s["stopping"] == true).then_some(())
    });
    assert!(
        z.try_exit().is_none(),
        "the busy task holds the graceful stop"
    );
    z.signal(Signal::SIGTERM);
    // Far below shutdown_timeout (10 s).
    assert!(z.wait_exit(Duration::from_secs(3)).success());
    c.expect_closed(SOON);
}

fn signal_stops_cleanly(tag: &str, sig: Signal) {
    let port = free_port();
    let mut z = ZeusProcess::start(tag, Spec::echo_services(SMALL_POOL, &[("echo", port)]));
    Client::connect(port).assert_echo("one task");
    let procs = z.processes("echo");
    z.signal(sig);
    let status = z.wait_exit(SOON);
    assert!(status.success(), "zeus start after {sig}: {status}");
    assert!(z.shm_objects().is_empty());
    assert!(!z.run_dir().join("zeus.sock").exists() && !z.run_dir().join("zeus.pid").exists());
    assert!(procs.iter().all(|p| !p.running()), "{procs:?}");
    z.wait_log(&format!("{}: stopping all services", sig.as_str()));
}

#[test]
fn sigterm_to_the_manager_stops_cleanly() {
    signal_stops_cleanly("sigterm", Signal::SIGTERM);
}

#[test]
fn sigint_to_the_manager_stops_cleanly() {
    signal_stops_cleanly("sigint", Signal::SIGINT);
}

#[test]
fn sighup_reloads_and_keeps_serving() {
    let port = free_port();
    let z = ZeusProcess::start("sighup", Spec::echo_services(SMALL_POOL, &[("echo", port)]));
    let before = z.processes("echo");
    z.signal(Signal::SIGHUP);
    z.wait_log("SIGHUP: reloading the configuration");
    z.wait_log("reload: configuration reloaded: nothing changed");
    Client::connect(port).assert_echo("still serving after SIGHUP");
    assert_eq!(
        z.processes("echo"),
        before,
        "an unchanged service keeps its processes"
    );
}
