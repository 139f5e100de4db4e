//! Helpers shared by the conformance and fork suites: a unique instance name and run dir per
//! test (so tests run in parallel without sharing OS objects), and the leak check that looks
//! at `/dev/shm`, the run dir and `/proc/sysvipc` directly, not only through `name::list`.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zeus_ipc::name::{self, Leftover};
use zeus_ipc::sysv::SysvKeys;
use zeus_ipc::{ChannelOptions, IpcName};

/// Generous bound for waits that should succeed at once; a failure shows as a timeout error,
/// never as a hang.
pub const LONG: Duration = Duration::from_secs(5);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One test's namespace: instance `t<pid>x<n>`, run dir `/tmp/zi-<pid>-<n>` (short, because
/// socket paths must fit in 107 bytes).
#[derive(Debug)]
pub struct Env {
    pub name: IpcName,
    pub run_dir: PathBuf,
}

impl Env {
    pub fn new(scope: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let run_dir = std::env::temp_dir().join(format!("zi-{pid}-{n}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let name = IpcName::new(&format!("t{pid}x{n}"), scope).unwrap();
        Self { name, run_dir }
    }

    pub fn opts(&self, workers: u32) -> ChannelOptions {
        ChannelOptions {
            workers,
            run_dir: self.run_dir.clone(),
            ..ChannelOptions::default()
        }
    }

    /// Every object of this test's instance, found three ways.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found: Vec<String> = name::list(self.name.instance(), &self.run_dir)
            .unwrap()
            .into_iter()
            .map(|l| format!("{l:?}"))
            .collect();
        let keys = SysvKeys::for_name(&self.name);
        found.extend(keys.existing().into_iter().map(|l| format!("{l:?}")));
        for table in ["msg", "sem"] {
            let text = std::fs::read_to_string(format!("/proc/sysvipc/{table}")).unwrap();
            for key in text
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
            {
                let key: i32 = key.parse().unwrap();
                if [keys.to_hub, keys.to_workers, keys.semaphores].contains(&key) {
                    found.push(format!("/proc/sysvipc/{table} key {key}"));
                }
            }
        }
        for dir in [PathBuf::from(name::SHM_DIR), self.run_dir.clone()] {
            let prefix = format!("zeus.{}.", self.name.instance());
            for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path().display().to_string());
                }
            }
        }
        found
    }

    pub fn assert_clean(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "{} left: {left:?}", self.name);
    }

    /// Removes a crashed instance's objects and returns what `purge` reported.
    pub fn purge(&self) -> Vec<Leftover> {
        name::purge(self.name.instance(), &self.run_dir).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Do not leak into the machine when a test failed half-way.
        let _ = name::purge(self.name.instance(), &self.run_dir);
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// A message that says who sent it and its sequence number, padded to `len` (>= 8) bytes with
/// a pattern derived from both, so corruption and mix-ups show.
pub fn tagged(sender: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut msg: Vec<u8> = sender
        .to_le_bytes()
        .into_iter()
        .chain(seq.to_le_bytes())
        .collect();
    msg.extend((8..len).map(|i| (i as u32 ^ sender.wrapping_mul(31) ^ seq) as u8));
    msg
}

/// `(sender, seq)` of a [`tagged`] message, after checking its padding.
pub fn untag(msg: &[u8]) -> (u32, u32) {
    let sender = u32::from_le_bytes(msg[..4].try_into().unwrap());
    let seq = u32::from_le_bytes(msg[4..8].try_into().unwrap());
    assert_eq!(msg, tagged(sender, seq, msg.len()), "corrupt message");
    (sender, seq)
}

/// Asserts that `took` lies within `[min, max]`.
pub fn assert_between(took: Duration, min: Duration, max: Duration) {
    assert!(
        took >= min && took <= max,
        "took {took:?}, expected {min:?}..={max:?}"
    );
}

/// Runs `f` and returns how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}
