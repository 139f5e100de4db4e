//! Workers that end (recycled by `max_process_tasks`, or stopped) while they hold
//! keep-alive connections: the last answer says `Connection: close`, idle connections are
//! closed at once, and clients that reconnect never see an error. A recycled worker's
//! replacement starts while it still finishes its connections (`recycle_overlap`).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use super::{start, start_pool};
use crate::util::{count, HttpConn, ProcId, SOON};

fn recycled_workers_announce_the_close_and_clients_see_no_errors(mpm: &str) {
    let pool = "start_processes = 1\nmax_processes = 2\nmin_spare_processes = 1\n\
                max_spare_processes = 2\nmax_process_tasks = 5";
    let w = start_pool(&format!("http-recycle-{mpm}"), mpm, pool, "");
    let mut c = HttpConn::connect(w.port);
    let mut closes = 0;
    for i in 0..30 {
        let r = c.get("/hello.txt");
        assert_eq!(r.status, 200, "request {i}");
        if r.header("connection") == Some("close") {
            closes += 1;
            c.expect_closed(SOON);
            c = HttpConn::connect(w.port);
        }
    }
    assert!(
        closes >= 5,
        "{closes} announced closes for 30 requests, 5 per worker"
    );
    w.zeus.wait_service("web", "replacement workers", |s| {
        (s["workers_spawned"].as_u64() >= Some(6)).then_some(())
    });
}

fn a_stop_closes_idle_keepalive_connections_without_waiting_for_their_timeout(mpm: &str) {
    let w = start(&format!("http-stop-{mpm}"), mpm, "keepalive_timeout = 60.0");
    let mut c = HttpConn::connect(w.port);
    assert_eq!(c.get("/hello.txt").status, 200);
    let t = Instant::now();
    let out = w.zeus.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    c.expect_closed(SOON);
    assert!(t.elapsed() < SOON, "stop took {:?}", t.elapsed());
}

/// Connections idle when their worker starts draining are not cut at once: their next
/// request is still answered (with `Connection: close`), so a client sending it just then
/// sees no reset or early EOF (wrk counted read errors on every recycle).
fn idle_connections_of_a_draining_worker_get_their_next_request_answered(mpm: &str) {
    // One worker unit: a process, a thread, or a process of two threads (hybrid; the unit's
    // task count is shared, so both threads drain).
    let n = if mpm == "hybrid" { 2 } else { 1 };
    let pool = format!(
        "start_processes = {n}\nmax_processes = {n}\nmin_spare_processes = 0\n\
         max_spare_processes = {n}\nmax_process_tasks = 4"
    );
    let w = start_pool(&format!("http-drain-{mpm}"), mpm, &pool, "");
    let mut conns: Vec<HttpConn> = (0..3).map(|_| HttpConn::connect(w.port)).collect();
    for c in &mut conns {
        assert_eq!(c.get("/hello.txt").status, 200);
    }
    // The fourth task: the worker answers it with close and starts draining.
    let last = conns[0].get("/hello.txt");
    assert_eq!(last.header("connection"), Some("close"));
    for c in &mut conns[1..] {
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.try_read(false).expect("an answer, not a reset or EOF");
        assert_eq!((r.status, r.header("connection")), (200, Some("close")));
        c.expect_closed(SOON);
    }
}

/// (worker id, pid, state) of each live worker.
fn workers(s: &Value) -> Vec<(u64, i32, String)> {
    s["workers"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|w| {
                    let id = w["id"].as_u64().unwrap_or(0);
                    let pid = w["pid"].as_i64().unwrap_or(0) as i32;
                    (id, pid, w["state"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A worker that reaches `max_process_tasks` while a client is in the middle of a request
/// finishes that request; meanwhile its replacement is already WAITING (beyond
/// `max_processes`, in the `recycle_overlap` reserve), so the service never has zero
/// workers ready. Before the overlap, the replacement was forked only once the old worker
/// had been reaped, here after the slow client's request.
fn a_recycled_workers_replacement_waits_before_it_has_ended(mpm: &str) {
    let n: u64 = if mpm == "hybrid" { 2 } else { 1 };
    let pool = format!(
        "start_processes = {n}\nmax_processes = {n}\nmin_spare_processes = 0\n\
         max_spare_processes = {n}\nmax_process_tasks = 2"
    );
    let w = start_pool(
        &format!("http-overlap-{mpm}"),
        mpm,
        &pool,
        "header_timeout = 30.0",
    );
    let old = w
        .zeus
        .wait_service("web", "the first workers WAITING", |s| {
            (count(s, "WAITING") == n).then(|| workers(s))
        });
    let old_ids: BTreeSet<u64> = old.iter().map(|w| w.0).collect();
    // A slow client: half a request, which the worker must finish before it may end.
    let mut slow = HttpConn::connect(w.port);
    slow.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n");
    // Accepted in order, so once this one is answered the slow one is the worker's too.
    let mut fast = HttpConn::connect(w.port);
    assert_eq!(fast.get("/hello.txt").status, 200);
    let last = fast.get("/hello.txt");
    assert_eq!(
        last.header("connection"),
        Some("close"),
        "the second task recycles"
    );
    let during = w
        .zeus
        .wait_service("web", "a replacement WAITING beside the old worker", |s| {
            let rows = workers(s);
            let new_waiting = rows
                .iter()
                .filter(|w| !old_ids.contains(&w.0) && w.2 == "WAITING")
                .count() as u64;
            let old: Vec<_> = rows.iter().filter(|w| old_ids.contains(&w.0)).collect();
            // A hybrid thread that sleeps in epoll learns of its unit's recycling within 100 ms.
            let old_waiting = old.iter().any(|w| w.2 == "WAITING");
            (new_waiting == n && !old.is_empty() && !old_waiting).then_some(rows)
        });
    for (id, pid, state) in during.iter().filter(|w| old_ids.contains(&w.0)) {
        assert!(
            ["TERMINATED", "RUNNING", "EXITED"].contains(&state.as_str()),
            "worker {id} is leaving, not a spare: {during:?}"
        );
        if mpm != "thread" {
            let p = ProcId::of(*pid).expect("the old worker process exists");
            assert!(p.running(), "the old worker still runs: {during:?}");
        }
    }
    // The slow client's request is still answered, with the close.
    slow.send(b"\r\n");
    let r = slow.try_read(false).expect("an answer, not a reset or EOF");
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    slow.expect_closed(SOON);
    let s = w
        .zeus
        .wait_service("web", "the old worker gone, the new one alone", |s| {
            let rows = workers(s);
            (rows.len() == n as usize && rows.iter().all(|w| !old_ids.contains(&w.0)))
                .then(|| s.clone())
        });
    assert_eq!(
        s["workers_spawned"].as_u64(),
        Some(2 * n),
        "replaced once, not twice: {s:#}"
    );
}

per_mpm!(
    a_recycled_workers_replacement_waits_before_it_has_ended,
    idle_connections_of_a_draining_worker_get_their_next_request_answered,
    recycled_workers_announce_the_close_and_clients_see_no_errors,
    a_stop_closes_idle_keepalive_connections_without_waiting_for_their_timeout,
);
