//! memcached's slab view of the items, for `me`, `stats items`, `stats slabs` and
//! `stats sizes`. zeus keeps items in log segments, not slabs: these figures say where
//! memcached (default `-n 48 -f 1.25`, 1 MB pages) would put each item, so tools that read
//! them keep working.
//!
//! - item size is memcached's `ITEM_ntotal`: its 48-byte header, key and NUL, value with
//!   "\r\n", 8 bytes of CAS and 4 of client flags when they are not 0;
//! - classes grow from 96 bytes by 1.25, rounded up to 8, until half a page (512 KB), the
//!   last class; bigger items are chunked by memcached and counted in that last class;
//! - counts come from a walk over every shard, one lock at a time, made when asked for.

use std::sync::atomic::Ordering::Relaxed;

use super::layout::{hdr, item};
use super::shard::Shard;
use super::Store;

/// memcached's `sizeof(item)` on 64-bit builds.
const ITEM_HEADER: usize = 48;
/// memcached's slab page.
pub const PAGE: usize = 1 << 20;
/// Largest slab chunk (half a page); the last class.
const CHUNK_MAX: usize = PAGE / 2;
/// Highest class id.
pub const CLASSES: usize = 39;

/// memcached's `ITEM_ntotal` for a key, a value with its "\r\n" and client flags.
pub fn ntotal(klen: usize, vlen: usize, flags: u32) -> usize {
    ITEM_HEADER + klen + 1 + vlen + 8 + if flags == 0 { 0 } else { 4 }
}

/// Chunk sizes of classes 1..=CLASSES (index 0 unused), as memcached computes them.
const CHUNKS: [usize; CLASSES + 1] = {
    let mut t = [0; CLASSES + 1];
    let mut chunk = ITEM_HEADER + 48;
    let mut c = 1;
    while c < CLASSES {
        t[c] = chunk;
        chunk = ((chunk as f64 * 1.25) as usize).next_multiple_of(8);
        c += 1;
    }
    t[CLASSES] = CHUNK_MAX;
    t
};

/// Chunk size of class `cls` (1-based; past the last class, the last class's).
pub fn chunk_size(cls: usize) -> usize {
    CHUNKS[cls.clamp(1, CLASSES)]
}

/// The class an item of `size` bytes goes to.
pub fn class_of(size: usize) -> usize {
    (1 + CHUNKS[1..].partition_point(|c| *c < size)).min(CLASSES)
}

/// Per-class counters memcached keeps in `stats slabs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum ClassStat {
    /// Fetches that found an item of this class.
    GetHits,
    /// Stores of an item of this class.
    CmdSet,
    /// Deletes.
    DeleteHits,
    /// incr hits.
    IncrHits,
    /// decr hits.
    DecrHits,
    /// cas matches.
    CasHits,
    /// cas mismatches.
    CasBadval,
    /// touch hits.
    TouchHits,
}

impl ClassStat {
    /// In `stats slabs` order.
    pub const ALL: [ClassStat; 8] = [
        ClassStat::GetHits,
        ClassStat::CmdSet,
        ClassStat::DeleteHits,
        ClassStat::IncrHits,
        ClassStat::DecrHits,
        ClassStat::CasHits,
        ClassStat::CasBadval,
        ClassStat::TouchHits,
    ];

    /// memcached's name.
    pub fn name(self) -> &'static str {
        match self {
            ClassStat::GetHits => "get_hits",
            ClassStat::CmdSet => "cmd_set",
            ClassStat::DeleteHits => "delete_hits",
            ClassStat::IncrHits => "incr_hits",
            ClassStat::DecrHits => "decr_hits",
            ClassStat::CasHits => "cas_hits",
            ClassStat::CasBadval => "cas_badval",
            ClassStat::TouchHits => "touch_hits",
        }
    }

    fn offset(self, cls: usize) -> usize {
        hdr::CLASS_STATS + (cls * ClassStat::ALL.len() + self as usize) * 8
    }
}

/// What the walk found in one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassUsage {
    /// Linked items.
    pub number: u64,
    /// Sum of their sizes.
    pub mem_requested: u64,
    /// Seconds since the oldest was stored.
    pub age: u32,
}

impl Store {
    /// Counts an event for the class of an item of `size` bytes; the class is marked used.
    pub fn count_class(&self, s: ClassStat, size: usize) {
        let cls = class_of(size);
        self.hdr(s.offset(cls)).fetch_add(1, Relaxed);
        self.mark_class(cls);
    }

    /// A class's counter.
    pub fn class_stat(&self, s: ClassStat, cls: usize) -> u64 {
        self.hdr(s.offset(cls)).load(Relaxed)
    }

    /// Marks a class as having held an item (memcached keeps a page for it from then on).
    pub(super) fn mark_class(&self, cls: usize) {
        let used = self.hdr(hdr::CLASS_USED);
        // A plain load first: after warm-up the bit is set and the shared line stays clean.
        if used.load(Relaxed) & (1 << cls) == 0 {
            used.fetch_or(1 << cls, Relaxed);
        }
    }

    /// Whether a class ever held an item.
    pub fn class_used(&self, cls: usize) -> bool {
        self.hdr(hdr::CLASS_USED).load(Relaxed) & (1 << cls) != 0
    }

    /// Walks every linked item (expired ones included, as memcached counts them) and calls
    /// `f(size, cas, time)`, one shard lock at a time.
    pub fn walk(&self, mut f: impl FnMut(usize, u64, u32)) {
        if let Some(b) = &self.ext {
            return b.walk(self, &mut f);
        }
        for s in 0..self.geo.shards {
            let sh = Shard::lock(self, s);
            for b in 0..self.geo.buckets {
                let mut it = self.region.u64(self.geo.bucket(s, b)).load(Relaxed) as usize;
                while it != 0 {
                    let flags = sh.get32(it, item::FLAGS);
                    f(
                        ntotal(sh.klen(it), sh.vlen(it), flags),
                        sh.get64(it, item::CAS),
                        sh.get32(it, item::TIME),
                    );
                    it = sh.get64(it, item::NEXT) as usize;
                }
            }
        }
    }

    /// Items per class, from a walk (index = class id).
    pub fn class_usage(&self, now: u32) -> Vec<ClassUsage> {
        let mut v = vec![ClassUsage::default(); CLASSES + 1];
        self.walk(|size, _, time| {
            let u = &mut v[class_of(size)];
            u.number += 1;
            u.mem_requested += size as u64;
            u.age = u.age.max(now.saturating_sub(time));
        });
        v
    }

    /// `stats sizes_enable`: from now on, items with a newer CAS are counted.
    pub fn sizes_enable(&self) {
        if self.hdr(hdr::SIZES_FROM).load(Relaxed) == 0 {
            let from = self.next_cas();
            self.hdr(hdr::SIZES_FROM).store(from, Relaxed);
        }
    }

    /// `stats sizes_disable`.
    pub fn sizes_disable(&self) {
        self.hdr(hdr::SIZES_FROM).store(0, Relaxed);
    }

    /// `stats sizes`: `None` when disabled, else (bucket size, items) by 32-byte buckets.
    pub fn sizes(&self) -> Option<Vec<(usize, u64)>> {
        let from = self.hdr(hdr::SIZES_FROM).load(Relaxed);
        if from == 0 {
            return None;
        }
        let mut hist = std::collections::BTreeMap::new();
        self.walk(|size, cas, _| {
            if cas >= from {
                *hist.entry(size.div_ceil(32) * 32).or_insert(0) += 1;
            }
        });
        Some(hist.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_memcached_vv() {
        assert_eq!(chunk_size(1), 96);
        assert_eq!(chunk_size(3), 152);
        assert_eq!(chunk_size(38), 394_840);
        assert_eq!(chunk_size(39), 524_288);
        assert_eq!(class_of(61), 1);
        assert_eq!(class_of(97), 2);
        assert_eq!(class_of(394_841), 39);
        assert_eq!(class_of(2_000_000), 39);
        assert_eq!(ntotal(1, 3, 0), 61);
        for size in [1, 95, 96, 97, 500, 5000, 524_288, 524_289] {
            let c = class_of(size);
            assert!(size <= chunk_size(c) || c == CLASSES);
            assert!(c == 1 || size > chunk_size(c - 1), "{size} {c}");
        }
    }
}
