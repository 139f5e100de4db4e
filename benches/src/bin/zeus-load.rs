//! `zeus-load`: a closed-loop load generator for line services (echo and alike). Each of
//! `--clients` threads repeatedly connects to 127.0.0.1:`--port`, sends one line, reads it
//! back and closes (one connection = one task), for `--seconds`. Prints one JSON object:
//! requests, errors, requests per second, and latency percentiles in microseconds.
//!
//! Loopback only; bounded in time (and by `--max-requests` per client).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;

/// Closed-loop connect / line / close load against a line service on loopback.
#[derive(Parser)]
#[command(name = "zeus-load")]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 7777)]
    port: u16,
    /// Client threads, each with one connection at a time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    clients: u64,
    /// Length of the run (at most 600 s).
    #[arg(long, default_value_t = 5.0, value_parser = seconds)]
    seconds: f64,
    /// Stop a client after this many requests.
    #[arg(long, default_value_t = 10_000_000)]
    max_requests: usize,
}

fn seconds(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 600.0 => Ok(s),
        _ => Err(format!("need 0 < seconds <= 600, got {v}")),
    }
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
    let args = Args::parse();
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
