//! One shard under its lock: the hash chains and the ring of log segments.
//!
//! Items are appended to the shard's write segment. When it is full the next segment in the
//! ring (the oldest) is taken back: with evictions on, every item still in it is unlinked
//! (segment-level FIFO, like pelikan's segcache); with evictions off, its live items are slid
//! to its front and only the space of dead or expired items is reused. A write never touches
//! the bucket heads until the new item is complete.

use std::sync::atomic::Ordering::Relaxed;

use super::layout::{item, item_bytes, shard};
use super::stats::Stat;
use super::{hash, Store};
use crate::sys::Locked;

/// Tries to take a shard lock this many times, pausing between tries, before sleeping on it.
/// A shard is held for well under a microsecond, so a worker that finds it taken usually
/// gets it by spinning; sleeping on the futex instead costs two syscalls and a wake-up that,
/// on a busy machine, can wait milliseconds for a CPU (seen as a p99 three times memcached's,
/// which spins on its item locks too).
const SPINS: u32 = 100;

fn acquire(region: &crate::sys::Region, off: usize) -> Locked {
    for _ in 0..SPINS {
        match region.mutex_trylock(off) {
            Ok(Some(got)) => return got,
            Ok(None) => (0..8).for_each(|_| std::hint::spin_loop()),
            Err(_) => break,
        }
    }
    region
        .mutex_lock(off)
        .expect("invariant: shard mutexes are initialised and never unrecoverable")
}

/// A locked shard; unlocks on drop.
pub(super) struct Shard<'a> {
    pub st: &'a Store,
    pub s: usize,
}

impl<'a> Shard<'a> {
    pub fn lock(st: &'a Store, s: usize) -> Self {
        let off = st.geo.shard(s);
        let got = acquire(&st.region, off);
        let me = Self { st, s };
        if got == Locked::OwnerDied {
            // A worker died mid-operation: the chains may be half-linked. Start the shard
            // afresh (a cache may lose entries, never serve garbage), then mark it usable.
            me.wipe();
            st.count(Stat::LockRepairs, 1);
            st.region
                .mutex_consistent(off)
                .expect("invariant: the owner-died mutex is held here");
            tracing::warn!(
                shard = s,
                "a worker died holding a store lock; shard emptied"
            );
        }
        me
    }

    fn wipe(&self) {
        let g = &self.st.geo;
        let r = &self.st.region;
        r.zero(g.bucket(self.s, 0), g.buckets * 8);
        r.zero(g.seg_end(self.s, 0), g.segs * 8);
        for f in [shard::WRITE_SEG, shard::ITEMS, shard::BYTES_USED] {
            self.word(f).store(0, Relaxed);
        }
    }

    fn word(&self, field: usize) -> &std::sync::atomic::AtomicU64 {
        self.st.region.u64(self.st.geo.shard(self.s) + field)
    }

    pub fn get32(&self, it: usize, f: usize) -> u32 {
        self.st.region.u32(it + f).load(Relaxed)
    }

    pub fn set32(&self, it: usize, f: usize, v: u32) {
        self.st.region.u32(it + f).store(v, Relaxed)
    }

    pub fn get64(&self, it: usize, f: usize) -> u64 {
        self.st.region.u64(it + f).load(Relaxed)
    }

    pub fn set64(&self, it: usize, f: usize, v: u64) {
        self.st.region.u64(it + f).store(v, Relaxed)
    }

    pub fn klen(&self, it: usize) -> usize {
        self.get32(it, item::KLEN) as usize
    }

    pub fn vlen(&self, it: usize) -> usize {
        self.get32(it, item::VLEN) as usize
    }

    /// memcached's size for this item (`ITEM_ntotal`).
    pub fn ntotal(&self, it: usize) -> usize {
        super::slabs::ntotal(self.klen(it), self.vlen(it), self.get32(it, item::FLAGS))
    }

    /// A fetch: marks the item fetched and records the access time.
    pub fn bump(&self, it: usize, now: u32) {
        let bits = self.get32(it, item::BITS);
        self.set32(it, item::BITS, bits | item::FETCHED);
        self.set32(it, item::ATIME, now);
    }

    /// Offset of the value (with its "\r\n").
    pub fn data(&self, it: usize) -> usize {
        it + item::HDR + self.klen(it)
    }

    fn size(&self, it: usize) -> usize {
        item_bytes(self.klen(it), self.vlen(it))
    }

    fn head(&self, h: u64) -> usize {
        self.st
            .geo
            .bucket(self.s, h as usize & (self.st.geo.buckets - 1))
    }

    /// The chain slot pointing at `key`'s item, and the item.
    fn find(&self, key: &[u8], h: u64) -> Option<(usize, usize)> {
        let mut slot = self.head(h);
        loop {
            let it = self.st.region.u64(slot).load(Relaxed) as usize;
            if it == 0 {
                return None;
            }
            if self.klen(it) == key.len() && self.st.region.equals(it + item::HDR, key) {
                return Some((slot, it));
            }
            slot = it + item::NEXT;
        }
    }

    /// The linked item for `key`, valid or not.
    pub fn find_item(&self, key: &[u8], h: u64) -> Option<usize> {
        self.find(key, h).map(|(_, it)| it)
    }

    /// The chain slot pointing at the item at `it` (which is linked).
    fn slot_of(&self, it: usize) -> usize {
        let mut key = Vec::with_capacity(self.klen(it));
        self.st
            .region
            .read_into(it + item::HDR, self.klen(it), &mut key);
        let mut slot = self.head(hash(&key));
        loop {
            let cur = self.st.region.u64(slot).load(Relaxed) as usize;
            assert!(cur != 0, "invariant: a live item is linked in its chain");
            if cur == it {
                return slot;
            }
            slot = cur + item::NEXT;
        }
    }

    /// Why an item may not be served: `None` when it is valid.
    fn invalid(&self, it: usize, now: u32) -> Option<Stat> {
        self.st.invalid(
            self.get32(it, item::EXPTIME),
            self.get32(it, item::TIME),
            self.get64(it, item::CAS),
            now,
        )
    }

    /// The valid item for `key`; an expired or flushed one is unlinked on the way.
    pub fn lookup(&self, key: &[u8], h: u64, now: u32) -> Result<usize, Option<Stat>> {
        let (slot, it) = self.find(key, h).ok_or(None)?;
        match self.invalid(it, now) {
            None => Ok(it),
            Some(why) => {
                self.unlink(slot, it);
                self.st.count(Stat::Reclaimed, 1);
                Err(Some(why))
            }
        }
    }

    fn unlink(&self, slot: usize, it: usize) {
        let next = self.get64(it, item::NEXT);
        self.st.region.u64(slot).store(next, Relaxed);
        self.set32(it, item::STATE, item::DEAD);
        self.word(shard::ITEMS).fetch_sub(1, Relaxed);
        self.word(shard::BYTES_USED)
            .fetch_sub(self.size(it) as u64, Relaxed);
    }

    /// Unlinks `key`'s item if there is one (valid or not); true if it was valid.
    pub fn remove(&self, key: &[u8], h: u64, now: u32) -> bool {
        match self.find(key, h) {
            Some((slot, it)) => {
                let valid = self.invalid(it, now).is_none();
                self.unlink(slot, it);
                valid
            }
            None => false,
        }
    }

    /// Links a complete item at its chain head, replacing any item with the same key.
    pub fn link(&self, key: &[u8], h: u64, it: usize) {
        if let Some((slot, old)) = self.find(key, h) {
            self.unlink(slot, old);
        }
        let head = self.head(h);
        self.set64(it, item::NEXT, self.st.region.u64(head).load(Relaxed));
        self.set32(it, item::STATE, item::LIVE);
        self.st.region.u64(head).store(it as u64, Relaxed);
        self.word(shard::ITEMS).fetch_add(1, Relaxed);
        self.word(shard::BYTES_USED)
            .fetch_add(self.size(it) as u64, Relaxed);
    }

    /// Room for a `klen`/`vlen` item, not linked yet; `None` when full and evictions are off.
    pub fn alloc(&self, klen: usize, vlen: usize) -> Option<usize> {
        let g = &self.st.geo;
        let need = item_bytes(klen, vlen);
        debug_assert!(need <= g.seg_size);
        let w = self.word(shard::WRITE_SEG).load(Relaxed) as usize;
        let end = self.st.region.u64(g.seg_end(self.s, w));
        let used = end.load(Relaxed) as usize;
        if used + need <= g.seg_size {
            end.store((used + need) as u64, Relaxed);
            return Some(g.seg(self.s, w) + used);
        }
        let n = (w + 1) % g.segs;
        if self.st.evictions {
            self.evict(n);
        } else {
            self.compact(n);
        }
        let end = self.st.region.u64(g.seg_end(self.s, n));
        let used = end.load(Relaxed) as usize;
        if used + need > g.seg_size {
            return None;
        }
        self.word(shard::WRITE_SEG).store(n as u64, Relaxed);
        end.store((used + need) as u64, Relaxed);
        Some(g.seg(self.s, n) + used)
    }

    /// Calls `f(item)` for every item written in segment `n`.
    fn items_in(&self, n: usize) -> Vec<usize> {
        let g = &self.st.geo;
        let base = g.seg(self.s, n);
        let end = self.st.region.u64(g.seg_end(self.s, n)).load(Relaxed) as usize;
        let mut out = Vec::new();
        let mut off = 0;
        while off < end {
            out.push(base + off);
            off += self.size(base + off);
        }
        out
    }

    fn evict(&self, n: usize) {
        let now = super::now();
        for it in self.items_in(n) {
            if self.get32(it, item::STATE) == item::LIVE {
                let why = if self.invalid(it, now).is_some() {
                    Stat::Reclaimed
                } else {
                    Stat::Evictions
                };
                self.unlink(self.slot_of(it), it);
                self.st.count(why, 1);
            }
        }
        self.st
            .region
            .u64(self.st.geo.seg_end(self.s, n))
            .store(0, Relaxed);
    }

    fn compact(&self, n: usize) {
        let now = super::now();
        let base = self.st.geo.seg(self.s, n);
        let mut cursor = 0;
        for it in self.items_in(n) {
            if self.get32(it, item::STATE) != item::LIVE {
                continue;
            }
            if self.invalid(it, now).is_some() {
                self.unlink(self.slot_of(it), it);
                self.st.count(Stat::Reclaimed, 1);
                continue;
            }
            let size = self.size(it);
            let to = base + cursor;
            if to != it {
                let slot = self.slot_of(it);
                self.st.region.copy_within(it, to, size);
                self.st.region.u64(slot).store(to as u64, Relaxed);
            }
            cursor += size;
        }
        self.st
            .region
            .u64(self.st.geo.seg_end(self.s, n))
            .store(cursor as u64, Relaxed);
    }
}

impl Drop for Shard<'_> {
    fn drop(&mut self) {
        self.st.region.mutex_unlock(self.st.geo.shard(self.s));
    }
}
