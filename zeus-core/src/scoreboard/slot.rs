//! The scoreboard's layout: a header and a fixed array of worker slots, all 64-bit atomic
//! words at fixed offsets (no pointers), like httpd's `scoreboard.h`.
//!
//! ```text
//! word 0            HEADER_WORDS               + SLOT_WORDS * i
//! [ header (64 words) ][ slot 0 (16 words) ][ slot 1 ] ...
//! ```

use serde::{Deserialize, Serialize};

/// `b"ZEUSSCB\0"` as a little-endian word; written last when a segment is created.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ZEUSSCB\0");
/// Bumped whenever the layout below changes.
pub const LAYOUT_VERSION: u64 = 1;
/// Words in the header.
pub const HEADER_WORDS: usize = 64;
/// Words per worker slot (two cache lines).
pub const SLOT_WORDS: usize = 16;
/// Samples kept for the tasks/s figure (one per second).
pub const SAMPLES: usize = 16;

/// Header word offsets.
pub(crate) mod hdr {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const SLOTS: usize = 2;
    pub const SCHEDULER_PID: usize = 3;
    pub const MANAGER_PID: usize = 4;
    pub const STARTED_MS: usize = 5;
    pub const MAX_TASKS: usize = 6;
    /// start_processes (low 32 bits) | max_processes (high).
    pub const START_MAX: usize = 7;
    /// min_spare (low) | max_spare (high).
    pub const SPARES: usize = 8;
    /// Tasks done by workers that have since exited.
    pub const RETIRED_TASKS: usize = 9;
    pub const SAMPLE_NEXT: usize = 10;
    /// 1 while the scheduler is stopping.
    pub const STOPPING: usize = 11;
    /// Workers created since start.
    pub const SPAWNED: usize = 12;
    /// The scheduler channel's adapter name, 16 bytes (words 13-14; zero in older segments,
    /// which read as "").
    pub const IPC: usize = 13;
    /// Service name, 64 bytes.
    pub const NAME: usize = 16;
    /// MPM name, 16 bytes.
    pub const MPM: usize = 24;
    /// Discipline name, 16 bytes.
    pub const DISCIPLINE: usize = 26;
    /// `SAMPLES` pairs of (unix ms, total tasks).
    pub const SAMPLES: usize = 28;
}

/// Slot word offsets.
pub(crate) mod word {
    pub const STATE: usize = 0;
    /// pid (low 32 bits) | thread id (high).
    pub const PID_TID: usize = 1;
    pub const WORKER_ID: usize = 2;
    pub const TASKS: usize = 3;
    pub const STARTED_MS: usize = 4;
    /// Time of the last state change.
    pub const CHANGED_MS: usize = 5;
    /// Seqlock counter for `ACTIVITY` (odd while being written).
    pub const SEQ: usize = 6;
    /// Non-zero once the worker takes no new work and is ending: it recycles itself
    /// (`max_process_tasks`, `max_process_memory`) or the scheduler asked it to stop. Cleared
    /// when the slot is claimed again. (Word 7 was unused padding: segments of older
    /// schedulers read 0, "not leaving".)
    pub const LEAVING: usize = 7;
    /// What the worker is doing, 64 bytes.
    pub const ACTIVITY: usize = 8;
    pub const ACTIVITY_WORDS: usize = 8;
}

/// A worker's life-cycle state, as in ZEUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerState {
    /// Slot unused.
    Empty = 0,
    /// Created, not yet ready for work.
    Started = 1,
    /// Waiting for a task (idle).
    Waiting = 2,
    /// Working on a task.
    Running = 3,
    /// Ending: asked to stop by the scheduler, or recycling itself; it takes no new
    /// connection and finishes those in hand (RUNNING while it serves one of them).
    Terminated = 4,
    /// Finished; waiting to be reaped.
    Exited = 5,
}

impl WorkerState {
    /// The states a live worker can be in, in display order.
    pub const LIVE: [WorkerState; 5] = [
        Self::Started,
        Self::Waiting,
        Self::Running,
        Self::Terminated,
        Self::Exited,
    ];

    /// Decodes a state word; unknown values read as `Empty`.
    pub fn from_word(w: u64) -> Self {
        match w {
            1 => Self::Started,
            2 => Self::Waiting,
            3 => Self::Running,
            4 => Self::Terminated,
            5 => Self::Exited,
            _ => Self::Empty,
        }
    }

    /// Upper-case name, as shown by `zeus status` and process titles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "EMPTY",
            Self::Started => "STARTED",
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::Terminated => "TERMINATED",
            Self::Exited => "EXITED",
        }
    }
}

/// Packs up to `words * 8` bytes of `s` into words (zero padded, cut at a char boundary).
pub fn pack_str(s: &str, words: usize) -> impl Iterator<Item = u64> + '_ {
    // No allocation: workers publish their activity with this on every task.
    let mut end = s.len().min(words * 8);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    (0..words).map(move |i| {
        let mut w = [0u8; 8];
        let chunk = bytes.get(i * 8..).unwrap_or(&[]);
        let n = chunk.len().min(8);
        w[..n].copy_from_slice(&chunk[..n]);
        u64::from_le_bytes(w)
    })
}

/// Inverse of `pack_str`; invalid UTF-8 is replaced, trailing zeros dropped.
pub fn unpack_str(words: &[u64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_cut_on_char_boundary() {
        assert_eq!(
            unpack_str(&pack_str("echo 127.0.0.1:80", 8).collect::<Vec<_>>()),
            "echo 127.0.0.1:80"
        );
        let long = "é".repeat(40);
        let cut = unpack_str(&pack_str(&long, 2).collect::<Vec<_>>());
        assert_eq!(cut, "é".repeat(8));
    }

    #[test]
    fn states_round_trip() {
        for s in WorkerState::LIVE {
            assert_eq!(WorkerState::from_word(s as u64), s);
        }
        assert_eq!(WorkerState::from_word(99), WorkerState::Empty);
    }
}
