//! Named shared memory viewed as an array of `AtomicU64` words.
//!
//! The segment is a file in `/dev/shm` mapped `MAP_SHARED` (memmap2 on a named file; an
//! anonymous map would be private to the process after fork). Every access goes through
//! atomics, so readers in other processes never race with writers in the Rust sense.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use memmap2::MmapMut;

/// A shared mapping of `len` 64-bit words.
#[derive(Debug)]
pub struct SharedWords {
    map: MmapMut,
    words: usize,
}

impl SharedWords {
    /// Creates the file (failing if it exists), sizes it and maps it.
    pub fn create(path: &Path, words: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.set_len((words * 8) as u64)?;
        Self::map(&file, words)
    }

    /// Maps an existing segment; its size decides the number of words.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len() as usize;
        Self::map(&file, len / 8)
    }

    fn map(file: &File, words: usize) -> io::Result<Self> {
        if words == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "empty segment"));
        }
        // SAFETY: the file is a zeus-owned segment in /dev/shm. Other processes do modify it
        // concurrently, which is why the mapping is only ever exposed as atomics (`words()`),
        // never as plain bytes or references to non-atomic data.
        let map = unsafe { MmapMut::map_mut(file)? };
        if map.len() < words * 8 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short segment"));
        }
        Ok(Self { map, words })
    }

    /// The mapping as atomic words.
    pub fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_ptr();
        debug_assert_eq!(ptr as usize % std::mem::align_of::<AtomicU64>(), 0);
        // SAFETY: mmap returns page-aligned memory (so aligned for AtomicU64), the mapping is
        // at least `words * 8` bytes long (checked in `map`) and lives as long as `self`.
        // AtomicU64 has the same layout as u64 and all bit patterns are valid; all accesses,
        // here and in other processes, are atomic, so shared mutation is sound.
        unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), self.words) }
    }
}
