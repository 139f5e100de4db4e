//! Paired ratios for the mmap adapter's gates: one worker process serves the adapter and
//! the raw ring in turn, and the hub times blocks of round trips over each, alternately, so
//! both sides of every ratio are measured within milliseconds of each other. (On this VM the
//! absolute figures drift by 2-4x between criterion's benches, which run seconds apart.)
//! Printed as `paired <adapter>/<placement> ÷ <raw>: median ratio …` lines, at the end of a
//! full run or alone with `cargo bench -p zeus-benches --bench ipc -- paired`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use nix::sys::wait::waitpid;
use zeus_ipc::{Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox};

use crate::raw::{rings, Ring, Wait, PAYLOAD_WORDS};
use crate::{cpus, fork_on, LONG, PING, QUIT, SMALL, WORKER};

const SWITCH: u8 = b'W';
/// A raw-ring payload that means "back to the adapter" / "exit".
const RAW_SWITCH: u64 = u64::MAX - 1;
const RAW_QUIT: u64 = u64::MAX;
/// Blocks of each kind, alternating.
const BLOCKS: usize = 21;

/// Runs without a filter or when the filter names `paired` (it prints its results; it
/// reports nothing to criterion).
pub fn paired(_c: &mut Criterion) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<f64>().is_err())
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| f.contains("paired")) {
        return;
    }
    let other = usize::from(cpus() > 1);
    let awake = ChannelOptions::default().spin;
    for (label, placement, cpu, spin, wait, raw, per_block) in [
        (
            "mmap",
            "cross_cpu",
            other,
            awake,
            Wait::Spin,
            "spin_ring_64B",
            4000,
        ),
        (
            "mmap_sleeping",
            "cross_cpu",
            other,
            Duration::ZERO,
            Wait::Futex,
            "futex_ring_64B",
            100,
        ),
        (
            "mmap_sleeping",
            "same_cpu",
            0,
            Duration::ZERO,
            Wait::Futex,
            "futex_ring_64B",
            400,
        ),
        (
            "mmap",
            "same_cpu",
            0,
            awake,
            Wait::Futex,
            "futex_ring_64B",
            400,
        ),
    ] {
        let ratios = pair(cpu, spin, wait, per_block);
        let mut r: Vec<f64> = ratios.iter().map(|(a, b)| a / b).collect();
        r.sort_by(f64::total_cmp);
        let mut a: Vec<f64> = ratios.iter().map(|(a, _)| *a).collect();
        let mut b: Vec<f64> = ratios.iter().map(|(_, b)| *b).collect();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let mid = r.len() / 2;
        println!(
            "paired {label}/{placement} ÷ raw/{raw}: median ratio {:.2} (quartiles {:.2}-{:.2}); \
             medians {:.3} µs ÷ {:.3} µs per round trip",
            r[mid],
            r[r.len() / 4],
            r[3 * r.len() / 4],
            a[mid] * 1e6,
            b[mid] * 1e6,
        );
    }
}

/// `BLOCKS` pairs of (adapter, raw) seconds per round trip.
fn pair(cpu: usize, spin: Duration, wait: Wait, per_block: usize) -> Vec<(f64, f64)> {
    let name = IpcName::new(&format!("pair{}", std::process::id()), "mmap").expect("name");
    let opts = ChannelOptions {
        max_message_size: SMALL,
        spin,
        ..ChannelOptions::default()
    };
    let hub = IpcAdapter::Mmap.create(&name, &opts).expect("mmap channel");
    let worker = hub.endpoint(WORKER).expect("endpoint");
    let (ping, pong) = rings(wait);
    let pid = fork_on(cpu, || serve(&worker, ping, pong));
    drop(worker);
    let mut msg = [0u8; SMALL];
    let mut buf = [0u8; SMALL];
    let mut payload = [0x5a5a_5a5a_5a5a_5a5au64; PAYLOAD_WORDS];
    let mut n = 0u64;
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        msg[0] = PING;
        let start = Instant::now();
        for _ in 0..per_block {
            hub.send(WORKER, &msg, LONG).expect("send");
            hub.recv(&mut buf, LONG).expect("recv");
        }
        let adapter = start.elapsed().as_secs_f64() / per_block as f64;
        msg[0] = SWITCH;
        hub.send(WORKER, &msg, LONG).expect("switch");
        let start = Instant::now();
        for _ in 0..per_block {
            ping.send(n, &payload);
            pong.recv(n, &mut payload);
            n += 1;
        }
        let raw = start.elapsed().as_secs_f64() / per_block as f64;
        ping.send(n, &[RAW_SWITCH; PAYLOAD_WORDS]);
        n += 1;
        out.push((adapter, raw));
    }
    msg[0] = QUIT;
    let _ = hub.send(WORKER, &msg, LONG);
    let _ = waitpid(pid, None);
    out
}

/// Echoes over the adapter until `SWITCH`, then over the raw rings until `RAW_SWITCH`, and
/// so on, until a quit on either.
fn serve(worker: &zeus_ipc::AnyChannel, ping: Ring, pong: Ring) {
    let mut buf = [0u8; SMALL];
    let mut payload = [0u64; PAYLOAD_WORDS];
    let mut n = 0u64;
    loop {
        loop {
            let Ok(len) = worker.recv(&mut buf, LONG) else {
                return;
            };
            match buf[0] {
                PING => worker.send(Mailbox::HUB, &buf[..len], LONG).expect("pong"),
                SWITCH => break,
                _ => return,
            }
        }
        loop {
            ping.recv(n, &mut payload);
            n += 1;
            match payload[0] {
                RAW_SWITCH => break,
                RAW_QUIT => return,
                _ => pong.send(n - 1, &payload),
            }
        }
    }
}
