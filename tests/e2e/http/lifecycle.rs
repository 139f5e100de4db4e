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

per_mpm!(
    recycled_workers_announce_the_close_and_clients_see_no_errors,
    a_stop_closes_idle_keepalive_connections_without_waiting_for_their_timeout,
);
