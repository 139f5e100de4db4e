//! The bare mechanisms, ping-ponged with the least code that is still correct, to see what
//! each adapter adds: pipe, `socketpair`, SysV message queue (plain blocking calls), a spin
//! ring (busy-polled slots in a shared mapping, 64-byte messages like the adapters', and the
//! 8-byte two-counter floor) and a futex ring (the same slots, the waiter parks at once); and
//! the pipe again with `poll` before each non-blocking `read`, the wait a timeout needs. For
//! the one-way 64-byte stream, a busy-polled single-producer ring of the same slots
//! ([`stream`]).

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};
use nix::sys::wait::waitpid;
use nix::unistd::pipe;

use crate::{fork_on, PING, QUIT, SMALL};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The raw mechanism of the adapter `label` (`mmap_sleeping`: the futex ring), with the
/// peer on `cpu`. The spin rings only cross-CPU: spinning on a shared CPU waits for the
/// scheduler, not for the other side.
pub fn baseline(c: &mut Criterion, label: &str, placement: &str, cpu: usize) {
    let mut g = c.benchmark_group("raw");
    match label {
        "fifo" => {
            pipes(&mut g, placement, cpu);
            polled_pipes(&mut g, placement, cpu);
        }
        "socket" => socketpair(&mut g, placement, cpu),
        "sysv" => sysv(&mut g, placement, cpu),
        "mmap_sleeping" => ring(&mut g, placement, cpu, Wait::Futex),
        "mmap" if cpu != 0 => {
            ring(&mut g, placement, cpu, Wait::Spin);
            spin_words(&mut g, cpu);
        }
        _ => {}
    }
    g.finish();
}

fn pipes(g: &mut Group<'_>, placement: &str, cpu: usize) {
    let file = |(r, w): (OwnedFd, OwnedFd)| (File::from(r), File::from(w));
    let (mut up_r, up_w) = file(pipe().expect("pipe"));
    let (down_r, mut down_w) = file(pipe().expect("pipe"));
    let pid = fork_on(cpu, move || {
        let (mut down_r, mut up_w) = (down_r, up_w);
        let mut buf = [0u8; SMALL];
        while down_r.read_exact(&mut buf).is_ok() && buf[0] != QUIT {
            up_w.write_all(&buf).expect("write");
        }
    });
    let mut buf = [PING; SMALL];
    g.bench_function(BenchmarkId::new("pipe_64B", placement), |b| {
        b.iter(|| {
            down_w.write_all(&buf).expect("write");
            up_r.read_exact(&mut buf).expect("read");
        })
    });
    let _ = down_w.write_all(&[QUIT; SMALL]);
    let _ = waitpid(pid, None);
}

/// Waits for `fd` to be readable (`poll`, 100 ms at most, like a liveness slice), then reads
/// exactly `buf.len()` bytes from the non-blocking pipe.
fn poll_read(fd: &File, buf: &mut [u8]) -> bool {
    use std::os::fd::AsFd;
    let mut got = 0;
    while got < buf.len() {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u8)).is_err() {
            return false;
        }
        match (&*fd).read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// The pipe ping-pong with the wait the fifo adapter must make to honour a timeout: `poll`,
/// then a non-blocking `read` (a pipe has no receive timeout).
fn polled_pipes(g: &mut Group<'_>, placement: &str, cpu: usize) {
    let file = |(r, w): (OwnedFd, OwnedFd)| (File::from(r), File::from(w));
    let nonblocking = |f: &File| {
        nix::fcntl::fcntl(
            f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .expect("O_NONBLOCK");
    };
    let (up_r, up_w) = file(pipe().expect("pipe"));
    let (down_r, mut down_w) = file(pipe().expect("pipe"));
    nonblocking(&up_r);
    nonblocking(&down_r);
    let pid = fork_on(cpu, move || {
        let (down_r, mut up_w) = (down_r, up_w);
        let mut buf = [0u8; SMALL];
        while poll_read(&down_r, &mut buf) && buf[0] != QUIT {
            up_w.write_all(&buf).expect("write");
        }
    });
    let mut buf = [PING; SMALL];
    g.bench_function(BenchmarkId::new("pipe_poll_64B", placement), |b| {
        b.iter(|| {
            down_w.write_all(&buf).expect("write");
            assert!(poll_read(&up_r, &mut buf), "read");
        })
    });
    let _ = down_w.write_all(&[QUIT; SMALL]);
    let _ = waitpid(pid, None);
}

fn socketpair(g: &mut Group<'_>, placement: &str, cpu: usize) {
    let (mine, theirs) = UnixDatagram::pair().expect("socketpair");
    let pid = fork_on(cpu, move || {
        let mut buf = [0u8; SMALL];
        while let Ok(len) = theirs.recv(&mut buf) {
            if buf[0] == QUIT || theirs.send(&buf[..len]).is_err() {
                return;
            }
        }
    });
    let mut buf = [PING; SMALL];
    g.bench_function(BenchmarkId::new("socketpair_64B", placement), |b| {
        b.iter(|| {
            mine.send(&buf).expect("send");
            mine.recv(&mut buf).expect("recv");
        })
    });
    let _ = mine.send(&[QUIT; SMALL]);
    let _ = waitpid(pid, None);
}

/// `struct msgbuf` with a 64-byte text.
#[repr(C)]
struct MsgBuf {
    mtype: libc::c_long,
    text: [u8; SMALL],
}

/// Blocking `msgsnd` of 64 bytes with type `mtype`.
pub fn msg_send(id: i32, mtype: libc::c_long, text: [u8; SMALL]) -> bool {
    let msg = MsgBuf { mtype, text };
    // SAFETY: `msg` is a live `struct msgbuf` whose text holds the SMALL bytes announced.
    unsafe { libc::msgsnd(id, (&msg as *const MsgBuf).cast(), SMALL, 0) == 0 }
}

/// Blocking `msgrcv` of the first message of type `mtype`.
pub fn msg_recv(id: i32, mtype: libc::c_long) -> Option<[u8; SMALL]> {
    let mut msg = MsgBuf {
        mtype: 0,
        text: [0; SMALL],
    };
    // SAFETY: `msg` has room for the mtype and SMALL bytes of text, the most msgrcv writes.
    let rc = unsafe { libc::msgrcv(id, (&mut msg as *mut MsgBuf).cast(), SMALL, mtype, 0) };
    (rc == SMALL as isize).then_some(msg.text)
}

/// One private queue, type 1 hub → worker, type 2 back; removed at the end.
fn sysv(g: &mut Group<'_>, placement: &str, cpu: usize) {
    // SAFETY: plain integer arguments.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        eprintln!("skipping raw/sysv_64B: msgget failed");
        return;
    }
    let pid = fork_on(cpu, move || {
        while let Some(text) = msg_recv(id, 1) {
            if text[0] == QUIT || !msg_send(id, 2, text) {
                return;
            }
        }
    });
    let mut text = [PING; SMALL];
    g.bench_function(BenchmarkId::new("sysv_64B", placement), |b| {
        b.iter(|| {
            assert!(msg_send(id, 1, text), "msgsnd");
            text = msg_recv(id, 2).expect("msgrcv");
        })
    });
    let _ = msg_send(id, 1, [QUIT; SMALL]);
    let _ = waitpid(pid, None);
    // SAFETY: IPC_RMID takes no buffer.
    unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
}

/// Zero-filled shared anonymous memory that lives until the process exits (forked children
/// see the same pages).
fn shared_words(words: usize) -> &'static [AtomicU64] {
    let len = NonZeroUsize::new(words * 8).expect("non-zero");
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing cannot alias
    // anything; it is never unmapped, so the 'static slice below stays valid.
    let base = unsafe { mmap_anonymous(None, len, prot, MapFlags::MAP_SHARED) }.expect("mmap");
    // SAFETY: page-aligned, zero-filled, `words` words long; AtomicU64 accepts the all-zero
    // pattern and is only accessed atomically from both processes.
    unsafe { std::slice::from_raw_parts(base.as_ptr().cast::<AtomicU64>(), words) }
}

/// How a ring's reader waits.
#[derive(Clone, Copy, PartialEq)]
pub enum Wait {
    /// Busy-polls the slot.
    Spin,
    /// Parks on the ring's futex word at once (the sleeping-peer case).
    Futex,
}

const SLOTS: usize = 64;
/// 128-byte slots: the sequence word, then 64 bytes of payload (two cache lines, as in the
/// mmap adapter).
const SLOT_WORDS: usize = 16;
pub const PAYLOAD_WORDS: usize = SMALL / 8;
/// Ring words: the slots, then one line with the futex word and the parked flag.
const RING_WORDS: usize = SLOTS * SLOT_WORDS + 8;

/// A single-producer single-consumer ring of 64-byte messages.
#[derive(Clone, Copy)]
pub struct Ring {
    words: &'static [AtomicU64],
    wait: Wait,
}

impl Ring {
    fn futex(&self) -> &AtomicU32 {
        let word = &self.words[SLOTS * SLOT_WORDS];
        // SAFETY: the word's first 4 bytes are aligned for AtomicU32, inside the mapping,
        // and only ever accessed through this view (never as the AtomicU64).
        unsafe { &*(word.as_ptr().cast::<AtomicU32>()) }
    }

    fn parked(&self) -> &AtomicU64 {
        &self.words[SLOTS * SLOT_WORDS + 1]
    }

    pub fn send(&self, n: u64, payload: &[u64; PAYLOAD_WORDS]) {
        let slot = &self.words[(n as usize % SLOTS) * SLOT_WORDS..][..SLOT_WORDS];
        for (word, value) in slot[1..].iter().zip(payload) {
            word.store(*value, Ordering::Relaxed);
        }
        slot[0].store(n + 1, Ordering::Release);
        if self.wait == Wait::Futex {
            // Dekker with the reader's parked flag: both sides store, then load (SeqCst).
            self.futex().store(n as u32 + 1, Ordering::SeqCst);
            if self.parked().load(Ordering::SeqCst) != 0 {
                // SAFETY: the futex word is a live aligned u32; FUTEX_WAKE only uses its
                // address.
                unsafe {
                    libc::syscall(libc::SYS_futex, self.futex().as_ptr(), libc::FUTEX_WAKE, 1)
                };
            }
        }
    }

    pub fn recv(&self, n: u64, payload: &mut [u64; PAYLOAD_WORDS]) {
        let slot = &self.words[(n as usize % SLOTS) * SLOT_WORDS..][..SLOT_WORDS];
        while slot[0].load(Ordering::Acquire) != n + 1 {
            match self.wait {
                Wait::Spin => std::hint::spin_loop(),
                Wait::Futex => self.park(n as u32 + 1),
            }
        }
        for (value, word) in payload.iter_mut().zip(&slot[1..]) {
            *value = word.load(Ordering::Relaxed);
        }
    }

    fn park(&self, want: u32) {
        self.parked().store(1, Ordering::SeqCst);
        let now = self.futex().load(Ordering::SeqCst);
        if now != want {
            let ts = libc::timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            // SAFETY: the futex word is a live aligned u32, `ts` a valid timespec on this
            // frame; FUTEX_WAIT reads the word atomically and ignores the last arguments.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.futex().as_ptr(),
                    libc::FUTEX_WAIT,
                    now,
                    &ts as *const libc::timespec,
                )
            };
        }
        self.parked().store(0, Ordering::Relaxed);
    }
}

/// A ping ring and a pong ring in fresh shared memory.
pub fn rings(wait: Wait) -> (Ring, Ring) {
    let words = shared_words(2 * RING_WORDS);
    let (ping, pong) = words.split_at(RING_WORDS);
    (Ring { words: ping, wait }, Ring { words: pong, wait })
}

/// A ping ring and a pong ring; the worker echoes until it gets a payload starting with
/// `u64::MAX`.
fn ring(g: &mut Group<'_>, placement: &str, cpu: usize, wait: Wait) {
    let (ping, pong) = rings(wait);
    let pid = fork_on(cpu, move || {
        let mut payload = [0u64; PAYLOAD_WORDS];
        for n in 0.. {
            ping.recv(n, &mut payload);
            if payload[0] == u64::MAX {
                return;
            }
            pong.send(n, &payload);
        }
    });
    let name = match wait {
        Wait::Spin => "spin_ring_64B",
        Wait::Futex => "futex_ring_64B",
    };
    let mut payload = [0x5a5a_5a5a_5a5a_5a5au64; PAYLOAD_WORDS];
    let mut n = 0u64;
    g.bench_function(BenchmarkId::new(name, placement), |b| {
        b.iter(|| {
            ping.send(n, &payload);
            pong.recv(n, &mut payload);
            n += 1;
        })
    });
    ping.send(n, &[u64::MAX; PAYLOAD_WORDS]);
    let _ = waitpid(pid, None);
}

/// Two counters on their own cache lines, busy-polled: the least a cross-process round trip
/// can cost (no queue, no copy, no system call).
fn spin_words(g: &mut Group<'_>, cpu: usize) {
    let words = shared_words(32);
    let (ping, pong) = (&words[0], &words[16]);
    let pid = fork_on(cpu, move || {
        let mut seen = 0;
        loop {
            let now = ping.load(Ordering::Acquire);
            if now == u64::MAX {
                return;
            }
            if now != seen {
                seen = now;
                pong.store(now, Ordering::Release);
            }
            std::hint::spin_loop();
        }
    });
    let mut round = 0u64;
    g.bench_function(BenchmarkId::new("spin_ring_8B", "cross_cpu"), |b| {
        b.iter(|| {
            round += 1;
            ping.store(round, Ordering::Release);
            while pong.load(Ordering::Acquire) != round {
                std::hint::spin_loop();
            }
        })
    });
    ping.store(u64::MAX, Ordering::Release);
    let _ = waitpid(pid, None);
}

/// Slots of the raw one-way stream: 512 × 128 bytes, the 64 KiB ring the mmap adapter's
/// `one_way_64B` channel gets (`capacity` 64 KiB, 128-byte slots).
const STREAM_SLOTS: usize = 512;
/// Words of the stream ring: the slots, then the consumer's `head` and the worker's
/// acknowledgement, each on its own 128-byte pair of lines.
const STREAM_WORDS: usize = STREAM_SLOTS * SLOT_WORDS + 2 * 16;
/// First payload word of the message that asks the worker to acknowledge.
const STREAM_FLUSH: u64 = u64::MAX - 1;
const STREAM_QUIT: u64 = u64::MAX;
/// First payload word of the message that hands the worker back to the adapter (paired).
pub const STREAM_SWITCH: u64 = u64::MAX - 2;

/// A busy-polled single-producer single-consumer ring of 64-byte messages, with the least
/// the one-way stream needs: the producer waits for room by the consumer's `head` (read
/// only when its cached copy says the ring is full), the consumer spins on the slot's
/// sequence word, copies the payload out and stores `head` after each message. Slots are
/// laid out as the mmap adapter's (sequence word + 64 bytes: two cache lines).
#[derive(Clone, Copy)]
pub struct Stream {
    words: &'static [AtomicU64],
}

impl Stream {
    /// A stream ring in fresh shared memory.
    pub fn new() -> Self {
        Self {
            words: shared_words(STREAM_WORDS),
        }
    }

    fn slot(&self, n: u64) -> &'static [AtomicU64] {
        &self.words[(n as usize % STREAM_SLOTS) * SLOT_WORDS..][..SLOT_WORDS]
    }

    fn head(&self) -> &'static AtomicU64 {
        &self.words[STREAM_SLOTS * SLOT_WORDS]
    }

    fn ack(&self) -> &'static AtomicU64 {
        &self.words[STREAM_SLOTS * SLOT_WORDS + 16]
    }

    /// Publishes message `n`; `head` is the producer's cached copy of the consumer's.
    pub fn push(&self, n: u64, head: &mut u64, payload: &[u64; PAYLOAD_WORDS]) {
        while n - *head >= STREAM_SLOTS as u64 {
            *head = self.head().load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        let slot = self.slot(n);
        for (word, value) in slot[1..].iter().zip(payload) {
            word.store(*value, Ordering::Relaxed);
        }
        slot[0].store(n + 1, Ordering::Release);
    }

    /// Sends `count` messages from position `n` on, then a flush, and waits for the worker's
    /// acknowledgement; `head` as in [`Stream::push`].
    pub fn block(&self, n: &mut u64, head: &mut u64, count: u64) {
        let msg = [0x5a5a_5a5a_5a5a_5a5au64; PAYLOAD_WORDS];
        for _ in 0..count {
            self.push(*n, head, &msg);
            *n += 1;
        }
        self.push(*n, head, &[STREAM_FLUSH; PAYLOAD_WORDS]);
        *n += 1;
        while self.ack().load(Ordering::Acquire) != *n {
            std::hint::spin_loop();
        }
    }

    /// The worker: takes messages in order from position `n` on, acknowledges flushes;
    /// returns on quit (false) or [`STREAM_SWITCH`] (true).
    pub fn serve(&self, n: &mut u64) -> bool {
        let mut payload = [0u64; PAYLOAD_WORDS];
        loop {
            let slot = self.slot(*n);
            while slot[0].load(Ordering::Acquire) != *n + 1 {
                std::hint::spin_loop();
            }
            for (value, word) in payload.iter_mut().zip(&slot[1..]) {
                *value = word.load(Ordering::Relaxed);
            }
            *n += 1;
            self.head().store(*n, Ordering::Release);
            match std::hint::black_box(payload[0]) {
                STREAM_QUIT => return false,
                STREAM_SWITCH => return true,
                STREAM_FLUSH => self.ack().store(*n, Ordering::Release),
                _ => {}
            }
        }
    }
}

/// `raw/spin_ring_one_way_64B/cross_cpu`: the one-way stream of `one_way_64B` over the bare
/// ring above, the worker on `cpu` (skipped when that is the hub's CPU: it spins).
pub fn stream(c: &mut Criterion, cpu: usize) {
    if cpu == 0 {
        return;
    }
    let ring = Stream::new();
    let pid = fork_on(cpu, move || {
        ring.serve(&mut 0);
    });
    let (mut n, mut head) = (0u64, 0u64);
    let mut g = c.benchmark_group("raw");
    g.throughput(criterion::Throughput::Bytes(SMALL as u64));
    let id = BenchmarkId::new("spin_ring_one_way_64B", "cross_cpu");
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            ring.block(&mut n, &mut head, iters);
            start.elapsed()
        })
    });
    g.finish();
    ring.push(n, &mut head, &[STREAM_QUIT; PAYLOAD_WORDS]);
    let _ = waitpid(pid, None);
}
