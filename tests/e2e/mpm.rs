//! The pool under each MPM (`process`, `thread`, `hybrid`): the same echo service runs
//! unchanged, the scoreboard shows pid and thread id, the pool grows to meet held connections
//! up to `max_processes` and shrinks back to `max_spare_processes`, on-demand workers come and
//! go, a discipline picks which idle worker ends, and a reload refuses no connection.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::Value;

use crate::util::{count, free_port, wait_for, Client, Spec, ZeusProcess, SOON};

/// A pool for `mpm`: hybrid processes hold 2 threads, so every bound is a multiple of 2.
fn pool(mpm: &str, start: u32, max: u32, min_spare: u32, max_spare: u32, extra: &str) -> String {
    format!(
        "multiprocessing_module = \"{mpm}\"\nthreads_per_process = 2\nstart_processes = {start}\n\
         max_processes = {max}\nmin_spare_processes = {min_spare}\nmax_spare_processes = {max_spare}\n{extra}\n"
    )
}

fn rows(s: &Value) -> &Vec<Value> {
    s["workers"].as_array().expect("worker rows")
}

fn live(s: &Value) -> u64 {
    s["workers_total"].as_u64().unwrap_or(0)
}

fn echo_runs_and_status_shows_pid_and_tid(mpm: &str) {
    let port = free_port();
    let z = ZeusProcess::start(
        &format!("ids-{mpm}"),
        Spec::echo_services(&pool(mpm, 4, 8, 1, 4, ""), &[("echo", port)]),
    );
    Client::connect(port).assert_echo(&format!("hello from {mpm}"));
    let s = z.service("echo");
    assert_eq!(s["mpm"], mpm);
    let sched = s["scheduler_pid"].as_u64().unwrap();
    let pids: BTreeSet<u64> = rows(&s)
        .iter()
        .map(|w| w["pid"].as_u64().unwrap())
        .collect();
    let tids: BTreeSet<u64> = rows(&s)
        .iter()
        .map(|w| w["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        tids.len(),
        rows(&s).len(),
        "every worker has its own thread id: {s:#}"
    );
    match mpm {
        "process" => assert!(
            rows(&s)
                .iter()
                .all(|w| w["pid"] == w["tid"] && w["pid"] != sched),
            "{s:#}"
        ),
        "thread" => assert_eq!(
            pids,
            BTreeSet::from([sched]),
            "thread workers live in the scheduler: {s:#}"
        ),
        _ => {
            assert_eq!(
                pids.len() * 2,
                rows(&s).len(),
                "two threads per hybrid process: {s:#}"
            );
            assert!(!pids.contains(&sched), "{s:#}");
        }
    }
}

fn pool_grows_for_held_connections_and_shrinks_back(mpm: &str) {
    let port = free_port();
    let cfg = pool(mpm, 2, 8, 1, 2, "max_process_tasks = 0");
    let z = ZeusProcess::start(
        &format!("grow-{mpm}"),
        Spec::echo_services(&cfg, &[("echo", port)]),
    );
    let mut clients: Vec<Client> = (0..6).map(|_| Client::connect(port)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.assert_echo(&format!("held {i}"));
    }
    let grown = wait_for(
        "6 RUNNING and a spare, within max_processes",
        SOON * 2,
        || {
            let s = z.try_service("echo")?;
            (count(&s, "RUNNING") == 6 && count(&s, "WAITING") >= 1 && live(&s) <= 8).then_some(s)
        },
    );
    assert!(live(&grown) >= 7, "{grown:#}");
    drop(clients);
    // Back to at most max_spare (2) idle workers, one unit ended per second.
    let shrunk = wait_for("idle workers down to max_spare_processes", SOON * 3, || {
        let s = z.try_service("echo")?;
        (count(&s, "RUNNING") == 0 && live(&s) <= 3 && live(&s) >= 1).then_some(s)
    });
    assert!(shrunk["tasks_done"].as_u64() >= Some(6), "{shrunk:#}");
    z.wait_log("ending idle worker");
}

fn on_demand_workers_come_and_go(mpm: &str) {
    let port = free_port();
    let cfg = pool(
        mpm,
        0,
        4,
        0,
        4,
        "enable_process_cache = false\nprocess_idle_timeout = 0.5",
    );
    let z = ZeusProcess::start(
        &format!("ondemand-{mpm}"),
        Spec::echo_services(&cfg, &[("echo", port)]),
    );
    assert_eq!(
        live(&z.service("echo")),
        0,
        "no worker before the first connection"
    );
    Client::connect(port).assert_echo("wake up");
    z.wait_service("echo", "one task done by an on-demand worker", |s| {
        (s["tasks_done"] == 1).then_some(())
    });
    wait_for("the idle on-demand worker to end", SOON, || {
        let s = z.try_service("echo")?;
        (live(&s) == 0).then_some(())
    });
    Client::connect(port).assert_echo("and again");
}

fn reload_refuses_no_connection(mpm: &str) {
    let port = free_port();
    let z = ZeusProcess::start(
        &format!("reload-{mpm}"),
        Spec::echo_services(
            &pool(mpm, 2, 8, 1, 4, "max_process_tasks = 50"),
            &[("echo", port)],
        ),
    );
    let stop = AtomicBool::new(false);
    let (ok, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) && i < 20_000 {
                i += 1;
                match Client::try_connect(port) {
                    Ok(mut c) => {
                        c.send("ping");
                        if c.read_line() == "ping\n" {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        wait_for("some answers before the reload", SOON, || {
            (ok.load(Ordering::SeqCst) > 20).then_some(())
        });
        let cfg = z.config_path().to_path_buf();
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("max_process_tasks = 50", "max_process_tasks = 7");
        std::fs::write(&cfg, text).unwrap();
        let out = z.run(&["reload"]);
        assert_eq!(out.code, 0, "{out}");
        z.wait_service("echo", "the new limits in the scoreboard", |s| {
            (s["limits"]["max_tasks"] == 7).then_some(())
        });
        let before = ok.load(Ordering::SeqCst);
        wait_for("answers after the reload", SOON, || {
            (ok.load(Ordering::SeqCst) > before + 20).then_some(())
        });
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "connections refused during the reload"
    );
    z.wait_log("the previous scheduler of echo");
}

macro_rules! per_mpm {
    ($($mpm:ident),*) => {
        $(mod $mpm {
            #[test]
            fn echo_runs_and_status_shows_pid_and_tid() {
                super::echo_runs_and_status_shows_pid_and_tid(stringify!($mpm));
            }
            #[test]
            fn pool_grows_for_held_connections_and_shrinks_back() {
                super::pool_grows_for_held_connections_and_shrinks_back(stringify!($mpm));
            }
            #[test]
            fn on_demand_workers_come_and_go() {
                super::on_demand_workers_come_and_go(stringify!($mpm));
            }
            #[test]
            fn reload_refuses_no_connection() {
                super::reload_refuses_no_connection(stringify!($mpm));
            }
        })*
    };
}

per_mpm!(process, thread, hybrid);

#[test]
fn the_discipline_picks_which_idle_worker_ends() {
    let port = free_port();
    let cfg = pool(
        "process",
        3,
        8,
        1,
        3,
        "scheduler_discipline = \"most_tasks\"\nmax_process_tasks = 0",
    );
    let z = ZeusProcess::start("discipline", Spec::echo_services(&cfg, &[("echo", port)]));
    for i in 0..12 {
        Client::connect(port).assert_echo(&format!("task {i}"));
    }
    // Hold 3 connections: the pool adds a spare; on release one idle worker is too many.
    let mut held: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    for c in held.iter_mut() {
        c.assert_echo("held");
    }
    let during = wait_for("3 RUNNING and a spare", SOON * 2, || {
        let s = z.try_service("echo")?;
        (count(&s, "RUNNING") == 3 && count(&s, "WAITING") >= 1 && live(&s) == 4).then_some(s)
    });
    // Tasks each worker will have once the held connections end.
    let final_tasks: Vec<(u64, u64)> = rows(&during)
        .iter()
        .map(|w| {
            (
                w["id"].as_u64().unwrap(),
                w["tasks"].as_u64().unwrap() + u64::from(w["state"] == "RUNNING"),
            )
        })
        .collect();
    drop(held);
    let ended = wait_for("the scheduler to end one idle worker", SOON * 2, || {
        let log = z.log();
        let at = log.find("ending idle worker ")?;
        log[at + "ending idle worker ".len()..]
            .split(' ')
            .next()?
            .parse::<u64>()
            .ok()
    });
    let most = final_tasks.iter().map(|t| t.1).max().unwrap();
    let tasks_of_ended = final_tasks.iter().find(|t| t.0 == ended).map(|t| t.1);
    assert_eq!(
        tasks_of_ended,
        Some(most),
        "most_tasks must end the busiest idle worker; workers {final_tasks:?}"
    );
}

#[test]
fn a_full_pool_warns_once_and_queues_connections() {
    let port = free_port();
    let cfg = pool("process", 2, 2, 1, 2, "");
    let z = ZeusProcess::start("at-max", Spec::echo_services(&cfg, &[("echo", port)]));
    let mut held: Vec<Client> = (0..2).map(|_| Client::connect(port)).collect();
    for c in held.iter_mut() {
        c.assert_echo("busy");
    }
    // A third client waits in the listen backlog, then is served once a worker frees up.
    let mut third = Client::connect(port);
    third.send("queued");
    z.wait_log("max_processes is reached");
    drop(held);
    assert_eq!(third.read_line(), "queued\n");
}
