//! The shared-memory scoreboard: one named segment per service, created by its scheduler
//! before any worker exists, written by workers with plain atomic stores (no syscall on the
//! hot path) and read by the scheduler and by `zeus status` from another process.
//!
//! Invariants:
//! - the segment holds only integers at fixed offsets (see `slot`), never pointers;
//! - the magic word is stored last at creation, so a reader never sees a half-built header;
//! - a slot belongs to one worker at a time: the scheduler claims it (STARTED) before the
//!   worker exists and frees it (EMPTY) after the worker is reaped.

mod slot;
mod snapshot;

pub use slot::WorkerState;
pub use snapshot::{Limits, ServiceStatus, WorkerStatus};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use slot::{
    hdr, pack_str, unpack_str, word, HEADER_WORDS, LAYOUT_VERSION, MAGIC, SAMPLES, SLOT_WORDS,
};

use crate::clock::{now_ms, now_ms_coarse};
use crate::sys::SharedWords;

/// What the header records about its service.
#[derive(Debug, Clone, Default)]
pub struct Describe {
    /// Service name.
    pub service: String,
    /// MPM name.
    pub mpm: String,
    /// Discipline name.
    pub discipline: String,
    /// Scheduler channel adapter (`fifo`, `sysv`, `mmap`, `socket`).
    pub ipc: String,
    /// Pool limits.
    pub limits: Limits,
    /// Pid of the manager.
    pub manager_pid: i32,
}

/// A mapped scoreboard segment.
#[derive(Debug)]
pub struct Scoreboard {
    shm: SharedWords,
    path: PathBuf,
    /// The process that created the segment unlinks it on drop; forked copies do not.
    owner_pid: Option<u32>,
    /// (device, inode) of the file created, so an old scheduler never removes the segment
    /// of its successor (a reload creates a new one at the same path).
    identity: (u64, u64),
}

impl Scoreboard {
    /// Creates the segment at `path` (replacing a stale one) with one slot per possible worker.
    pub fn create(path: &Path, slots: usize, d: &Describe) -> io::Result<Self> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let shm = SharedWords::create(path, HEADER_WORDS + slots * SLOT_WORDS)?;
        let w = shm.words();
        let put = |i: usize, v: u64| w[i].store(v, Ordering::Relaxed);
        put(hdr::VERSION, LAYOUT_VERSION);
        put(hdr::SLOTS, slots as u64);
        put(hdr::SCHEDULER_PID, u64::from(std::process::id()));
        put(hdr::MANAGER_PID, d.manager_pid as u64);
        put(hdr::STARTED_MS, now_ms());
        put(hdr::MAX_TASKS, d.limits.max_tasks);
        put(hdr::START_MAX, pair(d.limits.start, d.limits.max));
        put(hdr::SPARES, pair(d.limits.min_spare, d.limits.max_spare));
        store_str(&w[hdr::NAME..hdr::NAME + 8], &d.service);
        store_str(&w[hdr::MPM..hdr::MPM + 2], &d.mpm);
        store_str(&w[hdr::DISCIPLINE..hdr::DISCIPLINE + 2], &d.discipline);
        store_str(&w[hdr::IPC..hdr::IPC + 2], &d.ipc);
        w[hdr::MAGIC].store(MAGIC, Ordering::Release);
        let identity = identity(path).unwrap_or_default();
        Ok(Self {
            identity,
            shm,
            path: path.to_path_buf(),
            owner_pid: Some(std::process::id()),
        })
    }

    /// Maps an existing segment for reading, checking magic and layout version.
    pub fn open(path: &Path) -> io::Result<Self> {
        let shm = SharedWords::open(path)?;
        let w = shm.words();
        let bad = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        if w.len() < HEADER_WORDS || w[hdr::MAGIC].load(Ordering::Acquire) != MAGIC {
            return Err(bad("not a zeus scoreboard (bad magic)"));
        }
        if w[hdr::VERSION].load(Ordering::Relaxed) != LAYOUT_VERSION {
            return Err(bad("scoreboard layout version differs from this zeus"));
        }
        let slots = w[hdr::SLOTS].load(Ordering::Relaxed) as usize;
        if w.len() < HEADER_WORDS + slots * SLOT_WORDS {
            return Err(bad("segment shorter than its slot count"));
        }
        Ok(Self {
            shm,
            path: path.to_path_buf(),
            owner_pid: None,
            identity: identity(path).unwrap_or_default(),
        })
    }

    /// The segment's path in `/dev/shm`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn words(&self) -> &[AtomicU64] {
        self.shm.words()
    }

    fn h(&self, i: usize) -> u64 {
        self.words()[i].load(Ordering::Relaxed)
    }

    /// Pid of the manager whose scheduler created the segment.
    pub fn manager_pid(&self) -> i32 {
        self.h(hdr::MANAGER_PID) as i32
    }

    /// Number of worker slots.
    pub fn slot_count(&self) -> usize {
        self.h(hdr::SLOTS) as usize
    }

    /// The slot at `index`.
    pub fn slot(&self, index: usize) -> Slot<'_> {
        assert!(
            index < self.slot_count(),
            "invariant: slot index within the scoreboard"
        );
        let base = HEADER_WORDS + index * SLOT_WORDS;
        Slot {
            w: &self.words()[base..base + SLOT_WORDS],
        }
    }

    /// Adds the tasks of a worker that has exited to the service total.
    pub fn retire_tasks(&self, tasks: u64) {
        self.words()[hdr::RETIRED_TASKS].fetch_add(tasks, Ordering::Relaxed);
    }

    /// Counts a new worker (before it is started, so that it never shows uncounted).
    pub fn count_spawn(&self) {
        self.words()[hdr::SPAWNED].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes back [`Scoreboard::count_spawn`] for a worker that could not be started.
    pub fn uncount_spawn(&self) {
        self.words()[hdr::SPAWNED].fetch_sub(1, Ordering::Relaxed);
    }

    /// Marks the whole service as stopping.
    pub fn set_stopping(&self) {
        self.words()[hdr::STOPPING].store(1, Ordering::Relaxed);
    }

    /// Total tasks done by the service: retired workers plus live slots.
    pub fn total_tasks(&self) -> u64 {
        let live: u64 = (0..self.slot_count()).map(|i| self.slot(i).tasks()).sum();
        self.h(hdr::RETIRED_TASKS) + live
    }

    /// Records a (time, total tasks) sample; the scheduler calls this about once a second.
    pub fn record_sample(&self, now: u64) {
        let w = self.words();
        let n = w[hdr::SAMPLE_NEXT].fetch_add(1, Ordering::Relaxed) as usize % SAMPLES;
        let base = hdr::SAMPLES + 2 * n;
        w[base + 1].store(self.total_tasks(), Ordering::Relaxed);
        w[base].store(now, Ordering::Release);
    }

    fn samples(&self) -> Vec<(u64, u64)> {
        let w = self.words();
        (0..SAMPLES)
            .map(|i| {
                (
                    w[hdr::SAMPLES + 2 * i].load(Ordering::Acquire),
                    w[hdr::SAMPLES + 2 * i + 1].load(Ordering::Relaxed),
                )
            })
            .filter(|(t, _)| *t != 0)
            .collect()
    }
}

impl Scoreboard {
    /// Removes the segment's name (creator only); mappings stay valid until dropped.
    pub fn unlink(&self) {
        if self.owner_pid == Some(std::process::id())
            && identity(&self.path).ok() == Some(self.identity)
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for Scoreboard {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// One worker's slot.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    w: &'a [AtomicU64],
}

impl Slot<'_> {
    fn get(&self, i: usize) -> u64 {
        self.w[i].load(Ordering::Relaxed)
    }

    /// Current state.
    pub fn state(&self) -> WorkerState {
        WorkerState::from_word(self.w[word::STATE].load(Ordering::Acquire))
    }

    /// Moves to `state`, stamping the change time.
    pub fn set_state(&self, state: WorkerState) {
        // Coarse (last tick): written twice per task, read as idle time in seconds.
        self.w[word::CHANGED_MS].store(now_ms_coarse(), Ordering::Relaxed);
        self.w[word::STATE].store(state as u64, Ordering::Release);
    }

    /// Claims a free slot for a new worker (scheduler side, before the worker runs).
    pub fn claim(&self, worker_id: u64) {
        let now = now_ms();
        self.w[word::WORKER_ID].store(worker_id, Ordering::Relaxed);
        self.w[word::TASKS].store(0, Ordering::Relaxed);
        self.w[word::PID_TID].store(0, Ordering::Relaxed);
        self.w[word::STARTED_MS].store(now, Ordering::Relaxed);
        self.w[word::LEAVING].store(0, Ordering::Relaxed);
        self.set_activity("starting");
        self.set_state(WorkerState::Started);
    }

    /// Frees the slot after its worker is gone; returns the tasks it had done.
    pub fn release(&self) -> u64 {
        let tasks = self.get(word::TASKS);
        self.w[word::TASKS].store(0, Ordering::Relaxed);
        self.w[word::STATE].store(WorkerState::Empty as u64, Ordering::Release);
        tasks
    }

    /// Marks the worker as leaving: it takes no new work and ends once the work in hand is
    /// done. Sticky until the slot is claimed again.
    pub fn set_leaving(&self) {
        self.w[word::LEAVING].store(1, Ordering::Release);
    }

    /// Whether the worker is leaving (see [`Slot::set_leaving`]).
    pub fn leaving(&self) -> bool {
        self.w[word::LEAVING].load(Ordering::Acquire) != 0
    }

    /// Records the worker's pid and thread id.
    pub fn set_ids(&self, pid: u32, tid: u32) {
        self.w[word::PID_TID].store(pair(pid, tid), Ordering::Relaxed);
    }

    /// Worker pid (0 until the worker has written it).
    pub fn pid(&self) -> u32 {
        self.get(word::PID_TID) as u32
    }

    /// Worker thread id.
    pub fn tid(&self) -> u32 {
        (self.get(word::PID_TID) >> 32) as u32
    }

    /// The scheduler-assigned worker number.
    pub fn worker_id(&self) -> u64 {
        self.get(word::WORKER_ID)
    }

    /// Tasks done by this worker.
    pub fn tasks(&self) -> u64 {
        self.get(word::TASKS)
    }

    /// Counts one finished task.
    pub fn add_task(&self) {
        self.w[word::TASKS].fetch_add(1, Ordering::Relaxed);
    }

    /// Unix ms of creation.
    pub fn started_ms(&self) -> u64 {
        self.get(word::STARTED_MS)
    }

    /// Unix ms of the last state change. Stamped from the coarse clock (a few ms behind) while
    /// the start is precise, so a change is never reported before the worker's start.
    pub fn changed_ms(&self) -> u64 {
        self.get(word::CHANGED_MS).max(self.started_ms())
    }

    /// Publishes what the worker is doing (seqlock so readers never see a torn string).
    pub fn set_activity(&self, text: &str) {
        let seq = &self.w[word::SEQ];
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        store_str(
            &self.w[word::ACTIVITY..word::ACTIVITY + word::ACTIVITY_WORDS],
            text,
        );
        seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Reads the activity text; retries while a writer is mid-update.
    pub fn activity(&self) -> String {
        let range = word::ACTIVITY..word::ACTIVITY + word::ACTIVITY_WORDS;
        for _ in 0..100 {
            let before = self.w[word::SEQ].load(Ordering::Acquire);
            let words: Vec<u64> = self.w[range.clone()]
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .collect();
            std::sync::atomic::fence(Ordering::Acquire);
            if before.is_multiple_of(2) && self.w[word::SEQ].load(Ordering::Relaxed) == before {
                return unpack_str(&words);
            }
            std::hint::spin_loop();
        }
        String::new()
    }
}

fn identity(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

fn pair(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

fn store_str(words: &[AtomicU64], s: &str) {
    for (a, v) in words.iter().zip(pack_str(s, words.len())) {
        a.store(v, Ordering::Relaxed);
    }
}

fn load_str(words: &[AtomicU64]) -> String {
    unpack_str(
        &words
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect::<Vec<_>>(),
    )
}
