//! `zeus-load`: a closed-loop load generator for line services (echo and alike). Each of
//! `--clients` threads repeatedly connects to 127.0.0.1:`--port`, sends one line, reads it
//! back and closes (one connection = one task), for `--seconds`. Prints one JSON object:
//! requests, errors, requests per second, and latency percentiles in microseconds.
//!
//! Loopback only; bounded in time (and by `--max-requests` per client).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Args {
    port: u16,
    clients: usize,
    seconds: f64,
    max_requests: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        port: 7777,
        clients: 64,
        seconds: 5.0,
        max_requests: 10_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => a.port = value.parse().map_err(|_| bad(&flag, &value))?,
            "--clients" => a.clients = value.parse().map_err(|_| bad(&flag, &value))?,
            "--seconds" => a.seconds = value.parse().map_err(|_| bad(&flag, &value))?,
            "--max-requests" => a.max_requests = value.parse().map_err(|_| bad(&flag, &value))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.clients == 0 || a.seconds <= 0.0 || a.seconds > 600.0 {
        return Err("need --clients >= 1 and 0 < --seconds <= 600".into());
    }
    Ok(a)
}

fn bad(flag: &str, value: &str) -> String {
    format!("bad value for {flag}: {value}")
}

fn one_request(addr: &SocketAddr) -> std::io::Result<()> {
    let s = TcpStream::connect_timeout(addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_nodelay(true)?;
    (&s).write_all(b"ping\n")?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    if line != "ping\n" {
        return Err(std::io::Error::other(format!("unexpected answer {line:?}")));
    }
    Ok(())
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("zeus-load: {e}");
            std::process::exit(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|_| {
            let max = args.max_requests;
            std::thread::spawn(move || {
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < until && lat.len() < max {
                    let t = Instant::now();
                    match one_request(&addr) {
                        Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                        Err(_) => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (lat, e) = w.join().unwrap_or_default();
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"seconds\": {elapsed:.3}, \"rps\": {:.1}, \"p50_us\": {}, \"p99_us\": {}, \"max_us\": {}}}",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or(0)
    );
}
