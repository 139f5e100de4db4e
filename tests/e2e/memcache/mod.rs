//! zeus-memcache against Debian's memcached and real clients: the same bytes to both, equal
//! replies (CAS uniques and version normalised); sharing across worker processes; workers
//! killed under load; connection limits. The process MPM gets every test; thread and
//! hybrid get the differential scripts and the client tests.

mod backends;
mod clients;
mod harness;
mod limits;
mod meta_scripts;
mod scripts;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use harness::{exchange, normalise, Memcached, Zeus};

fn compare(mc: &Memcached, z: &Zeus, scripts: &[Vec<u8>], chunk: usize) {
    let mut bad = Vec::new();
    for s in scripts {
        let want = normalise(&exchange(mc.port, s, 0));
        let got = normalise(&exchange(z.port, s, chunk));
        if want != got {
            bad.push(format!(
                "script {:?}\n  memcached: {want:?}\n  zeus:      {got:?}",
                String::from_utf8_lossy(s)
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn same_bytes_same_replies_as_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start(2, "");
    compare(&mc, &z, &scripts::all(), 0);
    // The same scripts again, split into small pieces (one command over many packets).
    let split: Vec<Vec<u8>> = scripts::all()
        .into_iter()
        .filter(|s| !scripts::batch_sensitive(s))
        .collect();
    compare(&mc, &z, &split, 7);
    compare(&mc, &z, &split[..8], 1);
}

/// The thread and hybrid MPMs share the parser and store with `process` but not the
/// worker loop around them: every script once, whole, and the large values.
fn differential(mpm: &str) {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start_mpm(mpm, 2, "");
    compare(&mc, &z, &scripts::all(), 0);
    compare(&mc, &z, &scripts::large(), 0);
    // The MPM really is the one asked for: thread workers fork no process, hybrid's two
    // threads share one.
    let procs = if mpm == "thread" { 0 } else { 1 };
    assert_eq!(z.workers().len(), procs, "{mpm}: worker processes");
}

#[test]
fn same_replies_as_memcached_thread_mpm() {
    differential("thread");
}

#[test]
fn same_replies_as_memcached_hybrid_mpm() {
    differential("hybrid");
}

#[test]
fn meta_commands_match_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start(2, "");
    let scripts = meta_scripts::all();
    compare(&mc, &z, &scripts, 0);
    compare(&mc, &z, &meta_scripts::cas_flows(), 0);
    // Split into small pieces: one command over many packets.
    let split: Vec<Vec<u8>> = scripts
        .into_iter()
        .filter(|s| !scripts::batch_sensitive(s))
        .collect();
    compare(&mc, &z, &split, 7);
    compare(&mc, &z, &meta_scripts::cas_flows(), 3);
    compare(&mc, &z, &split[..6], 1);
}

#[test]
fn one_win_token_across_worker_processes() {
    let z = Zeus::start(4, "");
    let port = z.port;
    // Several rounds: each round many clients race for a missing key (vivify), then for
    // the same key once invalidated; exactly one of them is told `W` each time.
    for round in 0..5 {
        let key = format!("race{round}");
        for cmd in [format!("mg {key} N30 t\r\n"), format!("mg {key} s\r\n")] {
            if cmd.contains(" s") {
                assert_eq!(
                    exchange(port, format!("md {key} I\r\n").as_bytes(), 0),
                    b"HD\r\n"
                );
            }
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
            let racers: Vec<_> = (0..12)
                .map(|_| {
                    let (cmd, barrier) = (cmd.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        barrier.wait();
                        s.write_all(cmd.as_bytes()).unwrap();
                        let mut reply = Vec::new();
                        let mut buf = [0u8; 256];
                        while !reply.ends_with(b"\r\n") {
                            let n = s.read(&mut buf).unwrap();
                            assert!(n > 0, "closed");
                            reply.extend_from_slice(&buf[..n]);
                        }
                        String::from_utf8(reply).unwrap()
                    })
                })
                .collect();
            let replies: Vec<String> = racers.into_iter().map(|t| t.join().unwrap()).collect();
            let wins = replies
                .iter()
                .filter(|r| r.trim_end().ends_with(" W"))
                .count();
            assert_eq!(wins, 1, "{cmd:?}: {replies:?}");
            assert!(replies.iter().all(|r| r.starts_with("HD ")), "{replies:?}");
        }
    }
}

#[test]
fn stats_items_slabs_sizes_match_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start(2, "");
    for s in meta_scripts::stats() {
        let want = meta_scripts::normalise_stats(&exchange(mc.port, &s, 0));
        let got = meta_scripts::normalise_stats(&exchange(z.port, &s, 0));
        assert_eq!(want, got, "script {:?}", String::from_utf8_lossy(&s));
    }
}

#[test]
fn large_values_and_deep_pipelines_match_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start(2, "");
    compare(&mc, &z, &scripts::large(), 0);
    compare(&mc, &z, &scripts::large(), 60_000);
    compare(&mc, &z, &meta_scripts::large(), 0);
    compare(&mc, &z, &meta_scripts::large(), 60_000);
}

#[test]
fn a_line_without_newline_past_2048_bytes_closes_like_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start(1, "");
    for port in [mc.port, z.port] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[b'x'; 3000]).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "port {port}: {:?}", &buf[..n]);
    }
}

#[test]
fn every_worker_sees_one_cache() {
    let z = Zeus::start(4, "");
    let r = exchange(z.port, b"set shared 7 0 5\r\nhello\r\n", 0);
    assert_eq!(r, b"STORED\r\n");
    // `stats` names the worker process that answers: keep connections open until at least
    // two different workers have served the value.
    let mut pids = std::collections::BTreeSet::new();
    let mut held = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(("127.0.0.1", z.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"get shared\r\nstats\r\n").unwrap();
        let mut reply = Vec::new();
        let mut buf = [0u8; 8192];
        while !reply.ends_with(b"STAT curr_items 1\r\nEND\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection {i} closed");
            reply.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(reply).unwrap();
        assert!(
            text.starts_with("VALUE shared 7 5\r\nhello\r\nEND\r\n"),
            "{text}"
        );
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("STAT pid "))
            .unwrap();
        pids.insert(pid.to_string());
        held.push(s);
        if pids.len() >= 2 {
            break;
        }
    }
    assert!(
        pids.len() >= 2,
        "one worker served every connection: {pids:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while z.workers().len() != 4 {
        assert!(
            Instant::now() < deadline,
            "four worker processes: {:?}",
            z.workers()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_connections_refuses_politely_and_idle_clients_are_dropped() {
    let z = Zeus::start(1, "max_connections = 3\nidle_timeout = 1");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", z.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"version\r\n").unwrap();
        let mut buf = [0u8; 64];
        assert!(s.read(&mut buf).unwrap() > 0);
        held.push(s);
    }
    let mut extra = TcpStream::connect(("127.0.0.1", z.port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = extra.read_to_end(&mut got);
    assert_eq!(got, b"ERROR Too many open connections\r\n");
    // idle_timeout = 1: the held clients are closed within a few seconds.
    let start = Instant::now();
    for mut s in held {
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
    }
    assert!(start.elapsed() < Duration::from_secs(8));
    assert_eq!(exchange(z.port, b"get nothing\r\n", 0), b"END\r\n");
}

#[test]
fn killing_workers_under_load_never_yields_garbage() {
    let z = Zeus::start(2, "");
    kill_workers_under_load(&z);
}

/// Three clients write and check values (`load`) while up to 4 workers are SIGKILLed, 250 ms
/// apart; then the service must serve again with the replacement workers.
fn kill_workers_under_load(z: &Zeus) {
    let port = z.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || load(port, c, &stop))
        })
        .collect();
    let mut killed = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while killed < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(pid) = z.workers().first() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            killed += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut ops = 0;
    for c in clients {
        ops += c.join().expect("no client saw garbage");
    }
    assert!(killed >= 2, "killed {killed} workers");
    assert!(ops > 100, "only {ops} operations");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = exchange(port, b"set after 0 0 2\r\nok\r\nget after\r\n", 0);
        if r == b"STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "not serving after kills: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes `old-<key>-<pad>` or `new-<key>-<pad>` values and checks every read is one of them.
fn load(port: u16, client: u32, stop: &std::sync::atomic::AtomicBool) -> u64 {
    let mut ops = 0u64;
    let mut i = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let key = format!("c{client}k{}", i % 50);
            let ver = if i.is_multiple_of(2) { "old" } else { "new" };
            let val = format!("{ver}-{key}-{}", "p".repeat((i % 300) as usize));
            let req = format!("set {key} 0 0 {}\r\n{val}\r\nget {key}\r\n", val.len());
            if s.write_all(req.as_bytes()).is_err() {
                break;
            }
            let Some(reply) = read_until_end(&mut s) else {
                break;
            };
            let text = String::from_utf8(reply).expect("utf-8 reply");
            let mut lines = text.split("\r\n");
            let first = lines.next().unwrap_or("");
            assert!(
                first == "STORED" || first == "SERVER_ERROR out of memory storing object",
                "{text:?}"
            );
            if let Some(header) = lines.next().filter(|l| l.starts_with("VALUE")) {
                let data = lines.next().unwrap_or("");
                let n: usize = header.rsplit(' ').next().unwrap().parse().unwrap();
                assert_eq!(n, data.len(), "{text:?}");
                assert!(
                    (data.starts_with("old-") || data.starts_with("new-"))
                        && data[4..].starts_with(&format!("{key}-"))
                        && data[4 + key.len() + 1..].bytes().all(|b| b == b'p'),
                    "garbage for {key}: {data:?}"
                );
            }
            ops += 1;
        }
    }
    ops
}

fn read_until_end(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !out.ends_with(b"END\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    Some(out)
}
