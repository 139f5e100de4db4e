//! `mc-load`: a closed-loop memcached text-protocol load generator with latency percentiles
//! (memaslap prints none). `--threads` threads each drive their share of `--conns`
//! connections with epoll; every connection has one request in flight: a `get` of a random
//! key, or with probability `--set-ratio` a `set` of a `--value`-byte value, over `--keys`
//! keys written once before the timed run (so gets hit, as with memaslap). Latency is from
//! the write of a request to the last byte of its reply, recorded per request in 1 µs
//! buckets. Prints one JSON object: ops, errors, ops/s, p50/p90/p99/p999/max in µs.
//!
//! `--rate R` paces the requests instead (R per second over all connections, still at most
//! one in flight per connection): latency at a fixed load below saturation.
//!
//! `--per-conn 1` also prints, on stderr, one line per connection: `conn LOCAL_PORT
//! REQUESTS MEAN_US OVER_1MS` (to group latency by the server worker owning the connection).
//!
//! Loopback only; bounded in time (`--seconds`, at most 600) and memory (a fixed histogram).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

/// Histogram range: 1 µs buckets up to this; slower requests land in the last bucket (and
/// `max` keeps the true value).
const HIST_US: usize = 1_000_000;

/// Closed-loop (or paced) memcached text-protocol load on loopback.
#[derive(Parser)]
#[command(name = "mc-load")]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 11211)]
    port: u16,
    /// Client threads; each drives its share of the connections.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    threads: u64,
    /// Connections over all threads (at least one per thread).
    #[arg(long, default_value_t = 64)]
    conns: u64,
    /// Length of the timed run (at most 600 s).
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    seconds: f64,
    /// Bytes per value written by `set`.
    #[arg(long, default_value_t = 100)]
    value: usize,
    /// Keys, all written once before the timed run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    keys: u64,
    /// Fraction of requests that are `set`s (0 to 1).
    #[arg(long, default_value_t = 0.1, value_parser = ratio)]
    set_ratio: f64,
    /// Requests per second over all connections (0: closed loop, as fast as replies come).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// 1: also print per-connection counts on stderr.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    per_conn: u8,
}

fn seconds(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 600.0 => Ok(s),
        _ => Err(format!("need 0 < seconds <= 600, got {v}")),
    }
}

fn ratio(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("need a ratio from 0 to 1, got {v}")),
    }
}

/// xorshift64*: enough randomness for key choice, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn key(k: u64) -> String {
    format!("mcload:{k:09}")
}

/// One connection's request in flight.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    sent: Instant,
    is_set: bool,
    /// Requests answered, their summed latency and how many took over 1 ms (`--per-conn`).
    n: u64,
    sum_us: u64,
    slow: u64,
}

struct Totals {
    hist: Vec<u64>,
    max: u64,
    ops: u64,
    errors: u64,
}

/// Every request, built once: `get` and `set` per key (the client must not spend the CPU
/// it shares with the server on formatting).
struct Requests {
    get: Vec<Vec<u8>>,
    set: Vec<Vec<u8>>,
    set_ratio: f64,
}

impl Requests {
    fn new(a: &Args) -> Self {
        let value = vec![b'x'; a.value];
        let set = (0..a.keys)
            .map(|k| {
                let mut r = format!("set {} 0 0 {}\r\n", key(k), a.value).into_bytes();
                r.extend_from_slice(&value);
                r.extend_from_slice(b"\r\n");
                r
            })
            .collect();
        let get = (0..a.keys)
            .map(|k| format!("get {}\r\n", key(k)).into_bytes())
            .collect();
        Self {
            get,
            set,
            set_ratio: a.set_ratio,
        }
    }

    /// A random request and whether it is a set.
    fn pick(&self, rng: &mut Rng) -> (&[u8], bool) {
        let k = (rng.next() % self.get.len() as u64) as usize;
        if (rng.next() % 10_000) as f64 / 10_000.0 < self.set_ratio {
            (&self.set[k], true)
        } else {
            (&self.get[k], false)
        }
    }
}

/// Whether `buf` holds the whole reply: `STORED` for a set, up to `END` for a get.
fn complete(buf: &[u8], is_set: bool) -> Option<bool> {
    if is_set {
        if buf.ends_with(b"\r\n") {
            return Some(buf == b"STORED\r\n");
        }
        return None;
    }
    buf.ends_with(b"END\r\n").then_some(true)
}

/// Drives `conns` connections until `until`. `pace`: one request per `pace` over the
/// thread's connections (at most one in flight per connection; requests that fell behind
/// the schedule go out at once); `None`: each connection sends again as soon as its reply
/// is in. A request is timed from its write, so a client starved of CPU on a shared machine
/// does not charge its own lateness to the server (no coordinated-omission correction).
fn drive(
    reqs: &Requests,
    addr: SocketAddr,
    conns: usize,
    seed: u64,
    until: Instant,
    pace: Option<Duration>,
    per_conn: bool,
) -> Totals {
    let mut t = Totals {
        hist: vec![0; HIST_US + 1],
        max: 0,
        ops: 0,
        errors: 0,
    };
    let mut rng = Rng(seed | 1);
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
    let mut cs = Vec::new();
    for i in 0..conns {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
        epoll
            .add(s.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
            .expect("epoll add");
        cs.push(Conn {
            s,
            buf: Vec::with_capacity(4096),
            sent: Instant::now(),
            is_set: false,
            n: 0,
            sum_us: 0,
            slow: 0,
        });
    }
    let mut idle: Vec<usize> = (0..conns).collect();
    let mut due = Instant::now();
    let mut events = vec![EpollEvent::empty(); 256];
    let mut chunk = vec![0u8; 64 << 10];
    let mut live = conns;
    let close = |c: &Conn, live: &mut usize| {
        let _ = epoll.delete(c.s.as_fd());
        *live -= 1;
    };
    while live > 0 {
        let now = Instant::now();
        if now >= until {
            for i in idle.drain(..) {
                close(&cs[i], &mut live);
            }
        }
        while let Some(&i) = idle.last() {
            match pace {
                Some(_) if due > now => break,
                Some(p) => due += p,
                None => {}
            }
            idle.pop();
            let c = &mut cs[i];
            let (req, is_set) = reqs.pick(&mut rng);
            c.is_set = is_set;
            c.sent = Instant::now();
            if (&c.s).write_all(req).is_err() {
                t.errors += 1;
                close(c, &mut live);
            }
        }
        let wait = if pace.is_some() { 1u16 } else { 100 };
        let n = match epoll.wait(&mut events, wait) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => panic!("epoll_wait: {e}"),
        };
        let now = Instant::now();
        for ev in &events[..n] {
            let i = ev.data() as usize;
            let c = &mut cs[i];
            match c.s.read(&mut chunk) {
                Ok(n) if n > 0 => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                _ => {
                    t.errors += 1;
                    close(c, &mut live);
                    continue;
                }
            }
            let Some(ok) = complete(&c.buf, c.is_set) else {
                continue;
            };
            let us = now.duration_since(c.sent).as_micros() as u64;
            t.hist[(us as usize).min(HIST_US)] += 1;
            t.max = t.max.max(us);
            c.n += 1;
            c.sum_us += us;
            c.slow += u64::from(us > 1000);
            t.ops += 1;
            t.errors += u64::from(!ok);
            c.buf.clear();
            idle.push(i);
        }
        if now > until + Duration::from_secs(5) {
            t.errors += live as u64; // replies that never came
            break;
        }
    }
    if per_conn {
        for c in &cs {
            let port = c.s.local_addr().map_or(0, |a| a.port());
            eprintln!("conn {port} {} {} {}", c.n, c.sum_us / c.n.max(1), c.slow);
        }
    }
    t
}

/// Writes every key once, pipelined on one connection.
fn fill(reqs: &Requests, addr: SocketAddr) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    for batch in reqs.set.chunks(500) {
        let mut got = vec![0u8; b"STORED\r\n".len() * batch.len()];
        s.write_all(&batch.concat())
            .and_then(|()| s.read_exact(&mut got))
            .map_err(|e| format!("filling the keys: {e}"))?;
        if !got.chunks(8).all(|r| r == b"STORED\r\n") {
            return Err(format!("fill refused: {}", String::from_utf8_lossy(&got)));
        }
    }
    Ok(())
}

fn main() {
    let a = Args::parse();
    if a.conns < a.threads {
        Args::command()
            .error(ErrorKind::ValueValidation, "need --conns >= --threads")
            .exit();
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let reqs = std::sync::Arc::new(Requests::new(&a));
    if let Err(e) = fill(&reqs, addr) {
        eprintln!("mc-load: {e}");
        std::process::exit(1);
    }
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(a.seconds);
    let threads: Vec<_> = (0..a.threads)
        .map(|i| {
            let reqs = reqs.clone();
            let share = (a.conns / a.threads + u64::from(i < a.conns % a.threads)) as usize;
            let seed = 0x9e37_79b9 * (i + 1);
            let pace = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.threads as f64 / a.rate));
            let per_conn = a.per_conn == 1;
            std::thread::spawn(move || drive(&reqs, addr, share, seed, until, pace, per_conn))
        })
        .collect();
    let mut all = Totals {
        hist: vec![0; HIST_US + 1],
        max: 0,
        ops: 0,
        errors: 0,
    };
    for th in threads {
        let t = th.join().expect("load thread");
        for (x, y) in all.hist.iter_mut().zip(&t.hist) {
            *x += y;
        }
        all.max = all.max.max(t.max);
        all.ops += t.ops;
        all.errors += t.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let pct = |p: f64| {
        let want = ((all.ops as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (us, n) in all.hist.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return us as u64;
            }
        }
        all.max
    };
    println!(
        "{{\"ops\": {}, \"errors\": {}, \"seconds\": {elapsed:.3}, \"ops_per_s\": {:.1}, \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"max_us\": {}}}",
        all.ops,
        all.errors,
        all.ops as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        all.max
    );
}
