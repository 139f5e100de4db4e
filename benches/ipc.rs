//! IPC benchmarks: every `zeus_ipc` adapter between two processes (`fork`), on identical
//! inputs, in one run so that the ratios are fair:
//!
//! - `latency_64B/<adapter>/{cross,same}_cpu`: round trip of a 64-byte message (hub → worker
//!   → hub), with the two processes pinned to different CPUs or to the same one;
//! - `one_way_64B/<adapter>`: 64-byte messages from hub to worker (cross-CPU), ended by a
//!   flush the worker acknowledges, so the time covers delivery, not only queueing;
//! - `one_way_64KiB/<adapter>`: the same with 64 KiB messages (fifo and sysv cannot carry
//!   them: `PIPE_BUF` and `kernel.msgmax` bound their messages, so they are skipped);
//! - `latency_64B/mmap_sleeping/{cross,same}_cpu`: the mmap adapter with `spin` = 0, so the
//!   waiting side always parks on its futex (the sleeping-peer case);
//! - `ceiling/memcpy_64KiB/{cache_hot,streaming}`: one in-process copy of 64 KiB, from a
//!   buffer in cache, and from successive 64 KiB pieces of a 1 GiB buffer (larger than any
//!   cache here: a copy at memory bandwidth), the bandwidth bounds;
//! - `raw/…`: the bare mechanisms (see `ipc/raw.rs`), to see what the adapters add; each
//!   is measured right before the adapter it is the baseline of (the one-way spin ring
//!   stream, `raw/spin_ring_one_way_64B/cross_cpu`, right before the `one_way_64B` group).
//!
//! Run: `cargo bench -p zeus-benches --bench ipc` (≈ 2 minutes: 10 samples, 2 s each).

#[path = "ipc/paired.rs"]
mod paired;
#[path = "ipc/paired_kernel.rs"]
mod paired_kernel;
#[path = "ipc/paired_stream.rs"]
mod paired_stream;
#[path = "ipc/raw.rs"]
mod raw;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};
use zeus_ipc::{AnyChannel, Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox, RecvError};

const LONG: Duration = Duration::from_secs(10);
const SMALL: usize = 64;
const LARGE: usize = 64 * 1024;
const WORKER: Mailbox = Mailbox::new(1);
/// Source of the streaming memcpy ceiling: well above the last-level cache.
const STREAM_BYTES: usize = 1 << 30;

/// First byte of a request: what the worker does with it.
const PING: u8 = b'P';
const SINK: u8 = b'S';
const FLUSH: u8 = b'F';
const QUIT: u8 = b'Q';

fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        // Best effort: on a one-CPU machine both ends share CPU 0 anyway.
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

fn wmem_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(212_992)
}

/// Online CPUs of the machine (not `available_parallelism`, which shrinks to 1 once this
/// process is pinned).
fn cpus() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
}

/// Forks a child running `job` on `cpu`, which exits when `job` returns.
fn fork_on(cpu: usize, job: impl FnOnce()) -> Pid {
    // SAFETY: criterion (without its optional features) measures on the main thread and this
    // binary starts no other, so the child inherits no lock held by a vanished thread.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Parent { child } => child,
        ForkResult::Child => {
            pin(cpu);
            job();
            std::process::exit(0)
        }
    }
}

/// A worker process serving one channel: echoes pings, swallows sinks, acknowledges flushes.
struct Peer {
    hub: AnyChannel,
    pid: Pid,
}

impl Peer {
    fn start(adapter: IpcAdapter, max: usize, cpu: usize, spin: Duration) -> Option<Peer> {
        let name = IpcName::new(&format!("bench{}", std::process::id()), adapter.as_str())
            .expect("valid name");
        // Room for 16 largest messages (at least 64 KiB, at most 1 MiB), and for sockets no
        // more than SO_SNDBUF may be (net.core.wmem_max).
        let mut capacity = (16 * max).clamp(64 * 1024, 1 << 20);
        if adapter == IpcAdapter::Socket {
            capacity = capacity.min(wmem_max());
        }
        let opts = ChannelOptions {
            max_message_size: max,
            capacity,
            spin,
            ..ChannelOptions::default()
        };
        let hub = match adapter.create(&name, &opts) {
            Ok(hub) => hub,
            Err(e) => {
                eprintln!("skipping {adapter} with {max}-byte messages: {e}");
                return None;
            }
        };
        let worker = hub.endpoint(WORKER).expect("endpoint");
        let pid = fork_on(cpu, || serve(&worker));
        drop(worker);
        Some(Peer { hub, pid })
    }

    fn round_trip(&self, msg: &[u8], buf: &mut [u8]) {
        self.hub.send(WORKER, msg, LONG).expect("send");
        let len = self.hub.recv(buf, LONG).expect("recv");
        assert_eq!(len, msg.len());
    }

    /// Sends `count` sink messages and waits until the worker has received them all.
    fn stream(&self, msg: &[u8], count: u64) {
        for _ in 0..count {
            self.hub.send(WORKER, msg, LONG).expect("send");
        }
        self.hub.send(WORKER, &[FLUSH], LONG).expect("flush");
        let mut ack = [0u8; 8];
        self.hub.recv(&mut ack, LONG).expect("ack");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.hub.send(WORKER, &[QUIT], LONG);
        let _ = waitpid(self.pid, None);
    }
}

fn serve(worker: &AnyChannel) {
    let mut buf = vec![0u8; worker.max_message_size()];
    loop {
        let len = match worker.recv(&mut buf, LONG) {
            Ok(len) => len,
            Err(RecvError::Timeout { .. }) => continue,
            Err(_) => return,
        };
        match buf.first() {
            Some(&PING) => worker.send(Mailbox::HUB, &buf[..len], LONG).expect("pong"),
            Some(&FLUSH) => worker.send(Mailbox::HUB, b"A", LONG).expect("ack"),
            Some(&QUIT) => return,
            _ => {}
        }
    }
}

fn adapters(c: &mut Criterion) {
    let other_cpu = usize::from(cpus() > 1);
    pin(0);
    let spin = ChannelOptions::default().spin;
    let sleeping = (IpcAdapter::Mmap, "mmap_sleeping", Duration::ZERO);
    let cases = IpcAdapter::AUTO_ORDER.map(|a| (a, a.as_str(), spin));
    // Each adapter right after its raw mechanism, in the same placement: this VM's figures
    // drift within minutes, so a ratio is only fair between neighbours.
    for (placement, cpu) in [("cross_cpu", other_cpu), ("same_cpu", 0)] {
        for (adapter, label, spin) in cases.into_iter().chain([sleeping]) {
            raw::baseline(c, label, placement, cpu);
            let Some(peer) = Peer::start(adapter, SMALL, cpu, spin) else {
                continue;
            };
            let mut ping = vec![0u8; SMALL];
            ping[0] = PING;
            let mut buf = vec![0u8; SMALL];
            let mut lat = c.benchmark_group("latency_64B");
            let id = BenchmarkId::new(label, placement);
            lat.bench_function(id, |b| b.iter(|| peer.round_trip(&ping, &mut buf)));
            lat.finish();
        }
    }

    for (group, size) in [("one_way_64B", SMALL), ("one_way_64KiB", LARGE)] {
        if size == SMALL {
            raw::stream(c, other_cpu);
        }
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(size as u64));
        for adapter in IpcAdapter::AUTO_ORDER {
            let Some(peer) = Peer::start(adapter, size, other_cpu, spin) else {
                continue;
            };
            let mut msg = vec![0xa5u8; size];
            msg[0] = SINK;
            g.bench_function(adapter.as_str(), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    peer.stream(&msg, iters);
                    start.elapsed()
                })
            });
        }
        g.finish();
    }
}

fn ceiling(c: &mut Criterion) {
    let mut g = c.benchmark_group("ceiling");
    g.throughput(Throughput::Bytes(LARGE as u64));
    let src = vec![0x5au8; LARGE];
    let mut dst = vec![0u8; LARGE];
    g.bench_function(BenchmarkId::new("memcpy_64KiB", "cache_hot"), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    // Each copy reads the next 64 KiB of a buffer larger than the caches (L3 here: 300 MiB
    // shared with the host's other guests), into the same hot destination, like a receiver.
    // Made on first use, so that a run filtered to other benches does not fill 1 GiB.
    let mut big: Option<Vec<u8>> = None;
    let mut at = 0;
    g.bench_function(BenchmarkId::new("memcpy_64KiB", "streaming"), |b| {
        let big = big.get_or_insert_with(|| vec![0x5au8; STREAM_BYTES]);
        b.iter(|| {
            dst.copy_from_slice(black_box(&big[at..at + LARGE]));
            black_box(&mut dst);
            at = (at + LARGE) % STREAM_BYTES;
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = ipc;
    config = config();
    targets = adapters, ceiling, paired::paired
}
criterion_main!(ipc);
