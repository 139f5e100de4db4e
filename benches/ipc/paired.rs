//! Paired ratios for the mmap adapter's gates: one worker process serves the adapter and
//! the raw ring in turn, and the hub times blocks of round trips over each, alternately, so
//! both sides of every ratio are measured within milliseconds of each other. (On this VM the
//! absolute figures drift by 2-4x between criterion's benches, which run seconds apart.)
//! Printed as `paired <adapter>/<placement> ÷ <raw>: median ratio …` lines, at the end of a
//! full run or alone with `cargo bench -p zeus-benches --bench ipc -- paired`. The 64 KiB
//! throughput gate is paired the same way: blocks of the one-way mmap stream alternate with
//! blocks of the streaming memcpy ceiling (`paired one_way_64KiB/mmap ÷ …` line; alone:
//! `-- paired_64KiB`). The 64-byte one-way stream is paired with the raw spin-ring stream in
//! `paired_stream.rs`.

use std::time::{Duration, Instant};

use criterion::Criterion;
use nix::sys::wait::waitpid;
use zeus_ipc::{Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox};

use crate::raw::{rings, Ring, Wait, PAYLOAD_WORDS};
use crate::{cpus, fork_on, Peer, LARGE, LONG, PING, QUIT, SINK, SMALL, STREAM_BYTES, WORKER};

pub(crate) const SWITCH: u8 = b'W';
/// A raw-ring payload that means "back to the adapter" / "exit".
const RAW_SWITCH: u64 = u64::MAX - 1;
const RAW_QUIT: u64 = u64::MAX;
/// Blocks of each kind, alternating.
pub const BLOCKS: usize = 21;

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
    // `-- paired_64KiB` / `-- paired_sysv` / `-- paired_fifo`: that pairing alone.
    if filters.iter().any(|f| f.contains("paired_64KiB")) {
        return bulk(other, awake);
    }
    for adapter in [IpcAdapter::Sysv, IpcAdapter::Fifo] {
        if filters
            .iter()
            .any(|f| f.contains(&format!("paired_{adapter}")))
        {
            return crate::paired_kernel::kernel(adapter, other);
        }
    }
    if filters.iter().any(|f| f.contains("paired_stream")) {
        return crate::paired_stream::stream(other, awake);
    }
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
        report(&format!("{label}/{placement}"), raw, &ratios);
    }
    crate::paired_kernel::kernel(IpcAdapter::Sysv, other);
    crate::paired_kernel::kernel(IpcAdapter::Fifo, other);
    crate::paired_stream::stream(other, awake);
    bulk(other, awake);
}

/// Prints one paired line: the median (and quartiles) of the per-block ratios adapter ÷ raw,
/// and the median times.
pub fn report(what: &str, raw: &str, ratios: &[(f64, f64)]) {
    let mut r: Vec<f64> = ratios.iter().map(|(a, b)| a / b).collect();
    r.sort_by(f64::total_cmp);
    let mut a: Vec<f64> = ratios.iter().map(|(a, _)| *a).collect();
    let mut b: Vec<f64> = ratios.iter().map(|(_, b)| *b).collect();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let mid = r.len() / 2;
    println!(
        "paired {what} ÷ raw/{raw}: median ratio {:.2} (quartiles {:.2}-{:.2}); \
         medians {:.3} µs ÷ {:.3} µs per round trip",
        r[mid],
        r[r.len() / 4],
        r[3 * r.len() / 4],
        a[mid] * 1e6,
        b[mid] * 1e6,
    );
}

/// Messages (and copies) per block of the 64 KiB pairing: ≈ 8 ms each here.
const BULK_PER_BLOCK: u64 = 1000;

/// 64 KiB one-way over mmap (a worker on `cpu`) against the streaming memcpy, in alternating
/// blocks; prints the median ratio of their throughputs.
fn bulk(cpu: usize, spin: Duration) {
    let Some(peer) = Peer::start(IpcAdapter::Mmap, LARGE, cpu, spin) else {
        return;
    };
    let mut msg = vec![0xa5u8; LARGE];
    msg[0] = SINK;
    let big = vec![0x5au8; STREAM_BYTES];
    let mut dst = vec![0u8; LARGE];
    let mut at = 0;
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let start = Instant::now();
        peer.stream(&msg, BULK_PER_BLOCK);
        let channel = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for _ in 0..BULK_PER_BLOCK {
            dst.copy_from_slice(std::hint::black_box(&big[at..at + LARGE]));
            std::hint::black_box(&mut dst);
            at = (at + LARGE) % STREAM_BYTES;
        }
        let memcpy = start.elapsed().as_secs_f64();
        // Throughput ratio = time ratio inverted.
        out.push((memcpy / channel, channel, memcpy));
    }
    let median = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v: Vec<f64> = out.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 4], v[v.len() / 2], v[3 * v.len() / 4])
    };
    let gib = |secs: f64| (LARGE as u64 * BULK_PER_BLOCK) as f64 / secs / f64::from(1u32 << 30);
    let (q1, ratio, q3) = median(|r| r.0);
    println!(
        "paired one_way_64KiB/mmap ÷ ceiling/memcpy_64KiB/streaming: median throughput ratio \
         {:.0}% (quartiles {:.0}-{:.0}%); medians {:.2} GiB/s ÷ {:.2} GiB/s",
        ratio * 100.0,
        q1 * 100.0,
        q3 * 100.0,
        gib(median(|r| r.1).1),
        gib(median(|r| r.2).1),
    );
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
    let mut payload = [0x5a5a_5a5a_5a5a_5a5au64; PAYLOAD_WORDS];
    let mut n = 0u64;
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let adapter = adapter_block(&hub, per_block);
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
    let _ = hub.send(WORKER, &[QUIT; SMALL], LONG);
    let _ = waitpid(pid, None);
    out
}

/// Echoes over the adapter until `SWITCH`, then over the raw rings until `RAW_SWITCH`, and
/// so on, until a quit on either.
fn serve(worker: &zeus_ipc::AnyChannel, ping: Ring, pong: Ring) {
    let mut payload = [0u64; PAYLOAD_WORDS];
    let mut n = 0u64;
    loop {
        if !echo_adapter(worker) {
            return;
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

/// Times `per_block` adapter round trips of a 64-byte message from the hub, then hands the
/// worker over to the raw mechanism (`SWITCH`). Seconds per round trip.
pub(crate) fn adapter_block(hub: &zeus_ipc::AnyChannel, per_block: usize) -> f64 {
    let mut msg = [PING; SMALL];
    let mut buf = [0u8; SMALL];
    let start = Instant::now();
    for _ in 0..per_block {
        hub.send(WORKER, &msg, LONG).expect("send");
        hub.recv(&mut buf, LONG).expect("recv");
    }
    let seconds = start.elapsed().as_secs_f64() / per_block as f64;
    msg[0] = SWITCH;
    hub.send(WORKER, &msg, LONG).expect("switch");
    seconds
}

/// The worker's adapter half: echoes until `SWITCH` (true: over to the raw mechanism) or a
/// quit or an error (false).
pub(crate) fn echo_adapter(worker: &zeus_ipc::AnyChannel) -> bool {
    let mut buf = [0u8; SMALL];
    loop {
        let Ok(len) = worker.recv(&mut buf, LONG) else {
            return false;
        };
        match buf[0] {
            PING => worker.send(Mailbox::HUB, &buf[..len], LONG).expect("pong"),
            SWITCH => return true,
            _ => return false,
        }
    }
}
