//! Connection accounting and output bounds: `curr_connections` after a worker is SIGKILLed
//! with clients open, and a multiget far larger than any buffer the worker may hold.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::harness::{exchange, Zeus};

/// Sends `stats` on `s` and returns (pid of the answering worker, curr_connections).
fn stats_on(s: &mut TcpStream) -> (String, u64) {
    s.write_all(b"stats\r\n").unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    while !reply.ends_with(b"END\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed during stats");
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(reply).unwrap();
    let stat = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    (stat("pid"), stat("curr_connections").parse().unwrap())
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn a_killed_workers_connections_leave_curr_connections() {
    let z = Zeus::start(2, "max_connections = 6");
    // Open connections until one worker holds three (and note where each one landed).
    let mut held: Vec<(String, TcpStream)> = Vec::new();
    let victim = loop {
        assert!(
            held.len() < 6,
            "three connections never landed on one worker"
        );
        let mut s = connect(z.port);
        let (pid, _) = stats_on(&mut s);
        held.push((pid.clone(), s));
        if held.iter().filter(|(p, _)| *p == pid).count() == 3 {
            break pid;
        }
    };
    let survivors = held.iter().filter(|(p, _)| *p != victim).count() as u64;
    let (_, before) = stats_on(&mut held.last_mut().unwrap().1);
    assert_eq!(before, held.len() as u64);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    held.retain(|(p, _)| *p != victim);
    // A survivor's connection (or a new one) sees the count drop to the live connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut probe = connect(z.port);
    loop {
        let (_, now) = stats_on(&mut probe);
        if now == survivors + 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "curr_connections stays {now}, want {} (survivors + this probe)",
            survivors + 1
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // max_connections is not eaten: up to 6 open at once are served, the 7th is refused.
    let mut more = Vec::new();
    while survivors + 1 + (more.len() as u64) < 6 {
        let mut s = connect(z.port);
        s.write_all(b"version\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"VERSION "), "{:?}", &buf[..n]);
        more.push(s);
    }
    let mut extra = connect(z.port);
    let mut got = Vec::new();
    let _ = extra.read_to_end(&mut got);
    assert_eq!(got, b"ERROR Too many open connections\r\n");
    drop((held, more, probe, extra));
    served_again(z.port);
}

/// Private anonymous memory (the heap) of a process, from `/proc/PID/status`; the shared
/// store is not in it.
fn rss_anon_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_huge_multiget_is_streamed_not_buffered() {
    const VALUE: usize = 1_000_000;
    const KEYS: usize = 200;
    let z = Zeus::start(1, "");
    let worker = z.workers()[0];
    let mut s = connect(z.port);
    let mut set = Vec::new();
    for k in 0..4 {
        set.extend_from_slice(format!("set big{k} {k} 0 {VALUE}\r\n").as_bytes());
        set.extend(std::iter::repeat_n(b'a' + k as u8, VALUE));
        set.extend_from_slice(b"\r\n");
    }
    s.write_all(&set).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut reply = Vec::new();
    while reply.len() < 4 * 8 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        reply.extend_from_slice(&buf[..n]);
    }
    assert_eq!(reply, b"STORED\r\n".repeat(4));
    // One `get` of 200 MB of values; the client reads nothing for a while.
    let keys: Vec<String> = (0..KEYS).map(|i| format!("big{}", i % 4)).collect();
    s.write_all(format!("get {}\r\n", keys.join(" ")).as_bytes())
        .unwrap();
    let mut peak = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        peak = peak.max(rss_anon_kib(worker));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        peak < 48 << 10,
        "the worker buffered {peak} KiB for a stalled multiget"
    );
    // Then everything arrives, in order and whole.
    let mut total = 0usize;
    let mut tail = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tail.ends_with(b"END\r\n") {
        assert!(Instant::now() < deadline, "multiget not done in 30 s");
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {total} bytes");
        total += n;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(8);
        tail.drain(..keep);
    }
    let header = |i: usize| format!("VALUE big{} {} {VALUE}\r\n", i % 4, i % 4).len();
    let want: usize = (0..KEYS).map(|i| header(i) + VALUE + 2).sum::<usize>() + 5;
    assert_eq!(total, want, "bytes of {KEYS} values and END");
}

/// After clients closed, a new one is served: the workers see those closes a moment later,
/// and until then a new client may still be refused politely, never anything else.
fn served_again(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = exchange(port, b"get nothing\r\n", 0);
        if got == b"END\r\n" {
            return;
        }
        assert!(
            got.starts_with(b"ERROR Too many open connections\r\n"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            Instant::now() < deadline,
            "still refused 10 s after the closes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Raises this process's soft limit on open files towards `want` (at most the hard limit);
/// returns the soft limit now in force.
fn raise_fd_limit(want: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let target = want.min(hard);
    if soft >= target {
        return soft;
    }
    setrlimit(Resource::RLIMIT_NOFILE, target, hard).unwrap();
    target
}

/// A burst of 10 000 clients past `max_connections`, all open at once: every one gets
/// memcached's words and a close (no crash, no hang, no silent drop), the clients within the
/// limit keep being served meanwhile, and the server takes new clients once they leave.
#[test]
fn ten_thousand_clients_past_max_connections_are_refused_politely() {
    const LIMIT: usize = 20;
    // The burst, the held clients and the harness's own files must fit: a machine whose hard
    // limit is lower gets as large a burst as it allows (said on stderr), at least 500.
    const SPARE: u64 = 500;
    let fds = raise_fd_limit(10_000 + SPARE);
    let burst_len = 10_000.min(fds.saturating_sub(SPARE));
    assert!(
        burst_len >= 500,
        "open files limited to {fds}: too few for a burst"
    );
    if burst_len < 10_000 {
        eprintln!("open files limited to {fds}: a burst of {burst_len} clients, not 10 000");
    }
    let z = Zeus::start(2, &format!("max_connections = {LIMIT}"));
    let version = |s: &mut TcpStream| {
        s.write_all(b"version\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"VERSION "), "{:?}", &buf[..n]);
    };
    let mut held: Vec<TcpStream> = (0..LIMIT).map(|_| connect(z.port)).collect();
    for s in &mut held {
        version(s);
    }
    let burst: Vec<TcpStream> = (0..burst_len)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", z.port))
                .unwrap_or_else(|e| panic!("connect #{i} of the burst: {e}"))
        })
        .collect();
    for s in &mut held {
        version(s);
    }
    for (i, mut s) in burst.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        if let Err(e) = s.read_to_end(&mut got) {
            panic!("client #{i} of the burst: {e} after {got:?}");
        }
        assert_eq!(
            got, b"ERROR Too many open connections\r\n",
            "client #{i} of the burst"
        );
    }
    for s in &mut held {
        version(s);
    }
    drop(held);
    served_again(z.port);
}
