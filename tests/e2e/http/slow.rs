//! Slow and idle clients cost a connection, never a worker: a slowloris head, a stalled
//! body and an idle keep-alive connection are cut off by their timeouts (about a second
//! here), and hundreds of open connections on two workers do not stop new clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::start;
use crate::util::{request, HttpConn, SOON};

/// Sends `head` then one byte of `drip` every 200 ms (none if empty) until the server closes; returns how long it took.
fn drip_until_closed(port: u16, head: &[u8], drip: &[u8]) -> Duration {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let start = Instant::now();
    (&s).write_all(head).expect("send head");
    let mut buf = [0u8; 512];
    let mut next = drip.iter().cycle();
    loop {
        assert!(start.elapsed() < Duration::from_secs(8), "never cut off");
        match (&s).read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {} // an answer before the close would be fine too
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return start.elapsed(),
            Err(_) => {} // read timeout: still open
        }
        if let Some(&b) = next.next() {
            if (&s).write_all(&[b]).is_err() {
                return start.elapsed();
            }
        }
    }
}

fn slowloris_stalled_bodies_and_idle_connections_are_cut_off(mpm: &str) {
    let w = start(&format!("http-slow-{mpm}"), mpm, "");
    let p = w.port;
    // One byte of header every 200 ms: cut off after header_timeout (1 s), not kept alive
    // by the trickle. Meanwhile the service answers others at once.
    let took = std::thread::scope(|s| {
        let loris = s.spawn(|| drip_until_closed(p, b"GET / HTTP/1.1\r\n", b"X-a: b\r\n"));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        assert_eq!(
            request(p, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").status,
            200
        );
        assert!(t.elapsed() < SOON, "a slow client delayed others");
        loris.join().expect("slowloris thread")
    });
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "slowloris cut off after {took:?}, header_timeout is 1 s"
    );
    // A body that stalls: cut off after body_timeout (1 s).
    let took = drip_until_closed(
        p,
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nab",
        b"",
    );
    assert!(took < Duration::from_secs(5), "stalled body kept {took:?}");
    // Idle keep-alive: closed after keepalive_timeout (1.5 s).
    let mut c = HttpConn::connect(p);
    assert_eq!(c.get("/hello.txt").status, 200);
    let idle = c.expect_closed(Duration::from_secs(6));
    assert!(
        idle >= Duration::from_millis(1200),
        "idle connection closed after {idle:?}"
    );
}

fn five_hundred_open_connections_on_two_workers_are_all_answered(mpm: &str) {
    const N: usize = 500;
    let w = start(
        &format!("http-many-{mpm}"),
        mpm,
        "keepalive_timeout = 30.0\nheader_timeout = 30.0\n",
    );
    let p = w.port;
    let mut conns: Vec<HttpConn> = (0..N).map(|_| HttpConn::connect(p)).collect();
    for c in &mut conns {
        c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for c in &mut conns {
        assert_eq!(c.read(false).status, 200);
    }
    // All N stay open and idle (keep-alive), yet a new client is served at once, and
    // every open connection can still be reused.
    let t = Instant::now();
    assert_eq!(
        request(p, "GET /sub/plain.txt HTTP/1.1\r\nHost: t\r\n\r\n").text(),
        "plain\n"
    );
    assert!(t.elapsed() < SOON);
    for c in conns.iter_mut().step_by(50) {
        assert_eq!(c.get("/hello.txt").status, 200);
    }
    let s = w.zeus.service("web");
    assert!(s["workers_total"].as_u64() <= Some(4), "{s:#}");
    assert!(s["tasks_done"].as_u64() >= Some(N as u64), "{s:#}");
}

per_mpm!(
    slowloris_stalled_bodies_and_idle_connections_are_cut_off,
    five_hundred_open_connections_on_two_workers_are_all_answered,
);
