//! Workers that end (recycled by `max_process_tasks`, or stopped) while they hold
//! keep-alive connections: the last answer says `Connection: close`, idle connections are
//! closed at once, and clients that reconnect never see an error.

use std::time::Instant;

use super::{start, start_pool};
use crate::util::{HttpConn, SOON};

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

per_mpm!(
    idle_connections_of_a_draining_worker_get_their_next_request_answered,
    recycled_workers_announce_the_close_and_clients_see_no_errors,
    a_stop_closes_idle_keepalive_connections_without_waiting_for_their_timeout,
);
