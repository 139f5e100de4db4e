//! `paired one_way_64B/mmap ÷ raw/spin_ring_one_way_64B`: the one-way 64-byte stream over
//! the mmap adapter and over the bare spin ring (`raw.rs`, [`Stream`]), in alternating blocks
//! served by one worker on the other CPU, so both sides of the ratio are measured within
//! milliseconds of each other. Alone: `cargo bench -p zeus-benches --bench ipc --
//! paired_stream`.

use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;
use zeus_ipc::{AnyChannel, Channel, ChannelOptions, IpcAdapter, IpcName, Mailbox};

use crate::paired::{BLOCKS, SWITCH};
use crate::raw::{Stream, PAYLOAD_WORDS, STREAM_SWITCH};
use crate::{fork_on, FLUSH, LONG, QUIT, SINK, SMALL, WORKER};

/// Messages per block: ≈ 1-2 ms each here.
const PER_BLOCK: u64 = 20_000;

/// Runs the pairing with the worker on `cpu` (none when that is the hub's CPU: the raw ring
/// spins) and prints the median per-message times and their ratio.
pub fn stream(cpu: usize, spin: Duration) {
    if cpu == 0 {
        return;
    }
    let name = IpcName::new(&format!("pstream{}", std::process::id()), "mmap").expect("name");
    let opts = ChannelOptions {
        max_message_size: SMALL,
        capacity: 64 * 1024,
        spin,
        ..ChannelOptions::default()
    };
    let hub = IpcAdapter::Mmap.create(&name, &opts).expect("mmap channel");
    let worker = hub.endpoint(WORKER).expect("endpoint");
    let ring = Stream::new();
    let pid = fork_on(cpu, || serve(&worker, ring));
    drop(worker);
    let mut msg = [0xa5u8; SMALL];
    msg[0] = SINK;
    let (mut n, mut head) = (0u64, 0u64);
    let mut out = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let start = Instant::now();
        for _ in 0..PER_BLOCK {
            hub.send(WORKER, &msg, LONG).expect("send");
        }
        hub.send(WORKER, &[FLUSH], LONG).expect("flush");
        hub.recv(&mut [0u8; 8], LONG).expect("ack");
        let adapter = start.elapsed().as_secs_f64() / PER_BLOCK as f64;
        hub.send(WORKER, &[SWITCH], LONG).expect("switch");
        let start = Instant::now();
        ring.block(&mut n, &mut head, PER_BLOCK);
        let raw = start.elapsed().as_secs_f64() / PER_BLOCK as f64;
        ring.push(n, &mut head, &[STREAM_SWITCH; PAYLOAD_WORDS]);
        n += 1;
        out.push((adapter, raw));
    }
    let _ = hub.send(WORKER, &[QUIT], LONG);
    let _ = waitpid(pid, None);
    let sorted = |f: &dyn Fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = out.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (r, a, b) = (sorted(&|p| p.0 / p.1), sorted(&|p| p.0), sorted(&|p| p.1));
    let (q1, mid, q3) = (BLOCKS / 4, BLOCKS / 2, 3 * BLOCKS / 4);
    println!(
        "paired one_way_64B/mmap ÷ raw/spin_ring_one_way_64B: median ratio {:.2} (quartiles \
         {:.2}-{:.2}); medians {:.1} ns ÷ {:.1} ns per message (mmap quartiles {:.1}-{:.1} ns, \
         {:.1} M/s)",
        r[mid],
        r[q1],
        r[q3],
        a[mid] * 1e9,
        b[mid] * 1e9,
        a[q1] * 1e9,
        a[q3] * 1e9,
        1e-6 / a[mid],
    );
}

/// Swallows the adapter's stream (acknowledging flushes) until `SWITCH`, then the raw
/// ring's until its switch, and so on, until a quit on either.
fn serve(worker: &AnyChannel, ring: Stream) {
    let mut buf = [0u8; SMALL];
    let mut n = 0;
    loop {
        loop {
            if worker.recv(&mut buf, LONG).is_err() {
                return;
            }
            match buf[0] {
                FLUSH => worker.send(Mailbox::HUB, b"A", LONG).expect("ack"),
                SWITCH => break,
                QUIT => return,
                _ => {}
            }
        }
        if !ring.serve(&mut n) {
            return;
        }
    }
}
