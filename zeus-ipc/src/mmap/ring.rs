//! One mailbox's ring: a bounded multi-producer queue of fixed-size slots living in the
//! shared segment, without system calls. Producers reserve positions by CAS on `tail`
//! (lock-free); consumers (the threads of the one receiving process) take turns under a
//! receivers' lock and move `head` with plain stores.
//!
//! The design keeps the cache lines that cross CPUs per message to the slot itself:
//!
//! - A producer knows a slot is free from the consumers' `head`, not from the slot: it keeps
//!   the last `head` it saw in `head_cache`, on the producers' own line, and reads the
//!   consumers' line only when that copy says the ring is full (once per lap at most).
//! - Only producers write a slot. A producer that reserved position `p` claims the slot
//!   (`claim` = its pid and `p`), fills it and publishes it with `seq = p + 1` (release). The
//!   number is stored minus the slot index, so the all-zero segment is the initial state.
//! - A consumer takes the receivers' lock (`recv_lock`, on a line only the receiving process
//!   touches), reads the slot at its position `next` (`seq` acquire, then the payload as
//!   atomic words) and moves `next` on. It hands slots back to the producers by storing
//!   `head` (release, after its reads) only every eighth of the ring (at most
//!   [`PUBLISH_MAX`] slots), and whenever it finds the ring empty or a sender parked; a
//!   producer reuses a slot only after `head` passed it. A store to `head` whose line a
//!   producer checking for room just read waits for that line to come back, so storing it
//!   per message, or moving it by CAS as version 2 of the layout did, stalled the consumer
//!   on most messages of a full ring. The price: while the receiver is busy elsewhere, up
//!   to [`PUBLISH_MAX`] − 1 slots it took are not yet free for senders.
//! - A consumer reads nothing of the producers' line (`tail`): version 5 of the layout read
//!   `tail` at each hand-back to prefetch slots ahead, a cross-CPU miss each time (a tenth
//!   of the consumer's `perf` samples in a stream) that also took the line away from the
//!   producer's next CAS; the stream got faster without it (see [`PUBLISH_MAX`]).
//! - A slot's payload is read and written as atomic words, except the bulk of a message
//!   above 1 KiB, copied by `memcpy` (wide accesses): the ownership above makes those plain
//!   accesses race-free, and the one word a consumer reads before checking `seq` stays atomic.
//! - So a message costs the producer its slot's lines and the consumer the same lines, plus
//!   one uncontended locked operation each on a line no other process writes (with one
//!   producer).
//! - After publishing, a producer prefetches a slot a little ahead for writing (`PREFETCHW`)
//!   if the cached `head` says the consumers are done with it, so that a stream's stores do
//!   not each wait for the consumer's copy of the line to be invalidated.
//!
//! Crash safety: a producer killed between reserving and publishing would wedge the ring
//! for good. Its claim names it; a consumer that finds the head slot reserved but
//! unpublished, claimed for that very position by a dead process, marks it [`SKIP`] and
//! moves on ([`Ring::reclaim_stalled`]). Only a death in the few instructions between the CAS
//! and the claim store is not recoverable (the consumer then keeps reporting
//! `Empty`/`Timeout`). A consumer that dies holds only the receivers' lock, with its pid in
//! it: the next receiver takes the lock over from the dead process, and the message it was
//! reading is still at `head`.

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use super::layout::{Layout, RingHeader, SLOT_HEADER, SLOT_HEADER_WORDS};
use crate::sys::{self, SharedMap};

/// `len` of a slot reclaimed from a dead producer: consumers skip it.
pub(crate) const SKIP: u64 = u32::MAX as u64;

/// Why nothing was taken from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    /// No message.
    Empty,
    /// The caller's buffer is shorter than the next message, which stays queued.
    TooSmall { needed: usize },
}

/// Attempts at the receivers' lock while another thread of the process holds it: half
/// spin-loop hints, half `sched_yield`s (the holder copies one message, but may be
/// preempted).
const RECV_LOCK_SPINS: u32 = 128;

/// Most slots a consumer takes before it hands them back to the producers (it hands back
/// an eighth of the ring at a time, at most this many, and everything when it finds the ring
/// empty or a sender parked). 64 rather than 16, together with dropping the consumer's read
/// of `tail` at each hand-back (layout version 6): one-way 64-byte stream 60-73 ns per
/// message against 70-143 ns, alternating builds (benches/README.md, 1 December).
const PUBLISH_MAX: u64 = 64;

/// The receivers' lock of one ring, released on drop.
struct RecvLock<'a>(&'a AtomicI32);

impl Drop for RecvLock<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: our moves of `head` happen before the next holder reads it.
        self.0.store(0, Ordering::Release);
    }
}

/// A view of one ring inside a mapped segment.
#[derive(Debug)]
pub(crate) struct Ring<'a> {
    pub(crate) header: &'a RingHeader,
    /// Every slot's words, checked against the mapping once, when the view is made: finding
    /// a slot is then an index (see [`Ring::slot`]).
    slots: &'a [AtomicU64],
    /// Words from one slot to the next (header and payload).
    stride: usize,
    mask: u64,
    /// How many slots the consumer takes before it hands them back (see the module docs).
    publish_every: u64,
}

/// How many positions ahead of the one just published a producer prefetches for writing:
/// 2 and 4 measured alike (one-way 64-byte stream 1.2-1.4x faster than without), 1 less.
const PREFETCH_AHEAD: u64 = 2;

/// The first payload word in a slot's second cache line.
const SECOND_LINE_WORD: usize = (64 - SLOT_HEADER) / 8;

/// One slot's words (see [`super::layout::SLOT_HEADER_WORDS`]).
#[derive(Debug)]
struct Slot<'a> {
    seq: &'a AtomicU64,
    claim: &'a AtomicU64,
    len: &'a AtomicU64,
    payload: &'a [AtomicU64],
}

/// A slot's claim: who reserved it (pid) for which position (its low 32 bits, enough to tell
/// this lap's claim from an older one's).
#[inline]
fn claim(pid: i32, pos: u64) -> u64 {
    (u64::from(pid as u32) << 32) | (pos & 0xffff_ffff)
}

/// Messages longer than this are copied mostly by `memcpy` (see [`copy_in`]).
const BULK: usize = 1024;

/// Bytes of a bulk message copied as atomic words before the `memcpy`: they include the word
/// a consumer reads before it checks `seq` ([`SECOND_LINE_WORD`]), which must stay atomic.
const ATOMIC_PREFIX: usize = 64;

const _: () = assert!(SECOND_LINE_WORD * 8 < ATOMIC_PREFIX && ATOMIC_PREFIX < BULK);

/// Copies `src` into a slot's payload words. Up to [`BULK`] bytes, one atomic store per word.
/// Beyond, the first [`ATOMIC_PREFIX`] bytes still so, the rest by `memcpy`: a 64 KiB message
/// copied word by word kept about ten cache-line misses in flight, and the consumer spent its
/// time waiting for lines from the producer's CPU (one-way 64 KiB 4.5-6.8 GiB/s against
/// 7.7-8.7 GiB/s by `memcpy` in the same runs, see benches/README.md).
#[inline]
fn copy_in(words: &[AtomicU64], src: &[u8]) {
    if src.len() > BULK {
        return copy_bulk_in(words, src);
    }
    copy_words_in(words, src);
}

#[inline(never)]
fn copy_bulk_in(words: &[AtomicU64], src: &[u8]) {
    if let (Some((prefix, rest)), Some(bulk)) = (
        src.split_at_checked(ATOMIC_PREFIX),
        words.get(ATOMIC_PREFIX / 8..),
    ) {
        copy_words_in(words, prefix);
        // SAFETY: the producer owns this slot from reserving it (`push_with`'s CAS on
        // `tail`) to publishing it (the release store of `seq` after this copy); no
        // consumer reads it before, none reads these words speculatively (only the
        // prefix), and no producer reserves it again before `head` passes it.
        unsafe { sys::copy_to_shared(bulk, rest) };
        return;
    }
    copy_words_in(words, src);
}

/// Copies a slot's payload into `dst`, as [`copy_in`] wrote it.
#[inline]
fn copy_out(words: &[AtomicU64], dst: &mut [u8]) {
    if dst.len() > BULK {
        return copy_bulk_out(words, dst);
    }
    copy_words_out(words, dst);
}

#[inline(never)]
fn copy_bulk_out(words: &[AtomicU64], dst: &mut [u8]) {
    if let (Some((prefix, rest)), Some(bulk)) = (
        dst.split_at_mut_checked(ATOMIC_PREFIX),
        words.get(ATOMIC_PREFIX / 8..),
    ) {
        copy_words_out(words, prefix);
        // SAFETY: the caller holds the receivers' lock and acquired the slot's
        // publication (`seq`); no producer writes the slot until `head` passes it, which
        // this consumer does only after the copy (release store in `publish`).
        unsafe { sys::copy_from_shared(bulk, rest) };
        return;
    }
    copy_words_out(words, dst);
}

// Whole words go through fixed-size arrays, so each is one 8-byte load and one store (a
// variable-length `copy_from_slice` per word would be a `memcpy` call each, 15x slower),
// and whole 64-byte blocks through arrays of eight words, which the compiler unrolls
// without a bounds check per word (a 64-byte message: 8 loads and 8 stores, no loop).
#[inline]
fn copy_words_in(words: &[AtomicU64], src: &[u8]) {
    let mut blocks = src.chunks_exact(64);
    let mut done = 0;
    for (dst, block) in words.chunks_exact(8).zip(&mut blocks) {
        if let (Ok(dst), Ok(block)) = (dst.try_into(), block.try_into()) {
            store_block(dst, block);
        }
        done += 8;
    }
    let (Some(words), tail) = (words.get(done..), blocks.remainder()) else {
        return;
    };
    let mut chunks = tail.chunks_exact(8);
    for (word, chunk) in words.iter().zip(&mut chunks) {
        if let Ok(bytes) = <[u8; 8]>::try_from(chunk) {
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
    }
    let rest = chunks.remainder();
    if let (false, Some(word)) = (rest.is_empty(), words.get(tail.len() / 8)) {
        let mut bytes = [0u8; 8];
        bytes[..rest.len()].copy_from_slice(rest);
        word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
    }
}

#[inline]
fn copy_words_out(words: &[AtomicU64], dst: &mut [u8]) {
    let mut blocks = dst.chunks_exact_mut(64);
    let mut done = 0;
    for (block, src) in (&mut blocks).zip(words.chunks_exact(8)) {
        if let (Ok(block), Ok(src)) = (block.try_into(), src.try_into()) {
            load_block(block, src);
        }
        done += 8;
    }
    let (Some(words), tail) = (words.get(done..), blocks.into_remainder()) else {
        return;
    };
    let whole = tail.len() / 8;
    let mut chunks = tail.chunks_exact_mut(8);
    for (chunk, word) in (&mut chunks).zip(words) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    if let (false, Some(word)) = (rest.is_empty(), words.get(whole)) {
        let len = rest.len();
        rest.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes()[..len]);
    }
}

/// Stores a 64-byte block into eight words (all sizes fixed: unrolled, no checks).
#[inline]
fn store_block(dst: &[AtomicU64; 8], block: &[u8; 64]) {
    for (i, word) in dst.iter().enumerate() {
        if let Ok(bytes) = <[u8; 8]>::try_from(&block[i * 8..i * 8 + 8]) {
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
    }
}

/// Loads eight words into a 64-byte block, as [`store_block`] stored them.
#[inline]
fn load_block(block: &mut [u8; 64], src: &[AtomicU64; 8]) {
    for (i, word) in src.iter().enumerate() {
        block[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
    }
}

/// [`Ring::lock_receivers`] once the lock was found taken (out of line: rare; given the lock
/// word alone, so that the caller's `Ring` need not be kept in memory for it).
#[cold]
#[inline(never)]
fn lock_contended(lock: &AtomicI32, me: i32) -> Option<RecvLock<'_>> {
    for attempt in 0..RECV_LOCK_SPINS {
        let holder = match lock.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(RecvLock(lock)),
            Err(holder) => holder,
        };
        if holder != me {
            if sys::process_alive(holder) {
                return None;
            }
            if lock
                .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(RecvLock(lock));
            }
        } else if attempt < RECV_LOCK_SPINS / 2 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    None
}

/// Out of line: [`Ring::slot`] cannot miss (see there).
#[cold]
#[inline(never)]
fn slot_outside_ring() -> ! {
    panic!("invariant: every slot of a ring lies inside the mapping")
}

/// Stores `value` unless already there (a load is cheaper than dirtying a shared line).
#[inline]
fn note(word: &AtomicU32, value: u32) {
    if word.load(Ordering::Relaxed) != value {
        word.store(value, Ordering::Relaxed);
    }
}

/// Where one ring lies in a mapping, checked once: a handle keeps these for every mailbox, so
/// that a message does not recompute and re-check the ring's offsets (about 50 instructions
/// per `send` and per `recv`, under callgrind, of some 600 per round trip and side).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingPlace {
    header: usize,
    slots: usize,
    words: usize,
    stride: usize,
    mask: u64,
    publish_every: u64,
}

impl RingPlace {
    /// Mailbox `index`'s ring in `map`; `None` if it does not fit the mapping.
    pub(crate) fn new(map: &SharedMap, layout: &Layout, index: u32) -> Option<Self> {
        let header = layout.ring_offset(index);
        let slots = layout.slots_offset(header);
        let stride = layout.slot_stride / 8;
        let words = stride.checked_mul(layout.slots as usize)?;
        map.view::<RingHeader>(header)?;
        map.words(slots, words)?;
        (stride >= SLOT_HEADER_WORDS).then_some(Self {
            header,
            slots,
            words,
            stride,
            mask: u64::from(layout.slots) - 1,
            publish_every: (u64::from(layout.slots) / 8).clamp(1, PUBLISH_MAX),
        })
    }

    /// The ring at this place.
    ///
    /// # Safety
    ///
    /// `self` was made by [`RingPlace::new`] for this very `map`.
    #[inline]
    pub(crate) unsafe fn ring<'a>(&self, map: &'a SharedMap) -> Ring<'a> {
        // SAFETY: `RingPlace::new` had `view` accept this very offset of `map` (the
        // caller's contract), which is what the unchecked form asks.
        let header = unsafe { map.view_unchecked::<RingHeader>(self.header) };
        // SAFETY: as above, `words` accepted this very range of `map`.
        let slots = unsafe { map.words_unchecked(self.slots, self.words) };
        Ring {
            header,
            slots,
            stride: self.stride,
            mask: self.mask,
            publish_every: self.publish_every,
        }
    }
}

impl<'a> Ring<'a> {
    /// The ring of mailbox `index`; `None` if the layout does not fit the mapping. (Handles
    /// keep [`RingPlace`]s instead.)
    #[cfg(test)]
    pub(crate) fn new(map: &'a SharedMap, layout: &Layout, index: u32) -> Option<Self> {
        let place = RingPlace::new(map, layout, index)?;
        // SAFETY: `place` was made for this very map just now.
        Some(unsafe { place.ring(map) })
    }

    /// The slot of position `pos`, and its index in the ring.
    #[inline]
    fn slot(&self, pos: u64) -> (Slot<'a>, u64) {
        let index = pos & self.mask;
        let first = index as usize * self.stride;
        // `index < slots` and `slots` holds `slots` strides of at least the header's words
        // (`Ring::new`, `Layout`): never out of range.
        let Some(([seq, claim, len], payload)) = self
            .slots
            .get(first..first + self.stride)
            .and_then(<[AtomicU64]>::split_first_chunk::<SLOT_HEADER_WORDS>)
        else {
            slot_outside_ring()
        };
        let slot = Slot {
            seq,
            claim,
            len,
            payload,
        };
        (slot, index)
    }

    /// Whether position `pos`, and `spare` more after it, are free to produce into. With
    /// `fresh`, refreshes `head_cache` from the consumers' `head` when the cached copy says
    /// no; without, answers from the cached copy alone.
    #[inline]
    fn has_room(&self, pos: u64, spare: u64, fresh: bool) -> bool {
        let slots = (self.mask + 1).saturating_sub(spare);
        let h = self.header;
        if pos.wrapping_sub(h.head_cache.load(Ordering::Acquire)) < slots {
            return true;
        }
        if !fresh {
            return false;
        }
        // Acquire: the consumers' reads of the slot's previous message happened before.
        let head = h.head.load(Ordering::Acquire);
        if h.head_cache.load(Ordering::Relaxed) != head {
            h.head_cache.store(head, Ordering::Release);
        }
        pos.wrapping_sub(head) < slots
    }

    /// Appends `msg` (the caller checked its size); `false` when the ring is full. `me` is
    /// the producer's pid, `cpu` its CPU + 1 (for the consumer's spin decision).
    #[inline]
    pub(crate) fn push(&self, msg: &[u8], me: i32, cpu: u32) -> bool {
        self.push_with(msg, (me, cpu), 0, true)
    }

    /// [`Ring::push`] only if the producers' cached copy of `head` says there is room: never
    /// reads the consumers' line. A sender that may wait tries this first, since with a full
    /// ring every fresh read of `head` takes its line from the consumer just as it stores it.
    #[inline]
    pub(crate) fn push_cached(&self, msg: &[u8], me: i32, cpu: u32) -> bool {
        self.push_with(msg, (me, cpu), 0, false)
    }

    /// How many free slots beyond its own a sender that waits for room asks for: an eighth
    /// of the ring. Taking room back one slot at a time would read the consumers' `head`
    /// for every message, and each read takes its line away from the consumer.
    pub(crate) fn batch(&self) -> u64 {
        (self.mask + 1) / 8
    }

    /// [`Ring::push`], but only if `spare` more slots are free as well.
    pub(crate) fn push_with_spare(&self, msg: &[u8], me: i32, cpu: u32, spare: u64) -> bool {
        self.push_with(msg, (me, cpu), spare, true)
    }

    #[inline]
    fn push_with(&self, msg: &[u8], (me, cpu): (i32, u32), spare: u64, fresh: bool) -> bool {
        let h = self.header;
        let mut pos = h.tail.load(Ordering::Relaxed);
        loop {
            if !self.has_room(pos, spare, fresh) {
                return false;
            }
            match h.tail.compare_exchange_weak(
                pos,
                pos.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => pos = now,
            }
        }
        let (slot, index) = self.slot(pos);
        slot.claim.store(claim(me, pos), Ordering::Relaxed);
        note(&h.sender_cpu, cpu);
        // Sizes were checked against max_message (< u32::MAX / 2) by the caller.
        slot.len.store(msg.len() as u64, Ordering::Relaxed);
        copy_in(slot.payload, msg);
        slot.seq
            .store(pos.wrapping_add(1).wrapping_sub(index), Ordering::Release);
        // Only a slot the consumers are done with (by the cached head: no shared line read),
        // or the prefetch would take a message's lines away from the consumer still to read it.
        let ahead = pos.wrapping_add(PREFETCH_AHEAD);
        if ahead.wrapping_sub(h.head_cache.load(Ordering::Relaxed)) <= self.mask {
            self.prefetch_for_write(ahead);
        }
        true
    }

    /// Asks for both lines of the slot at `pos` in writable state now, so that a later
    /// message's stores hit lines already owned; otherwise each store waits for the
    /// consumer's copy to be invalidated, and the next reservation's locked CAS waits for
    /// those stores to drain.
    #[inline]
    fn prefetch_for_write(&self, pos: u64) {
        let (slot, _) = self.slot(pos);
        sys::prefetch_write(slot.seq);
        if let Some(word) = slot.payload.get(SECOND_LINE_WORD) {
            sys::prefetch_write(word);
        }
    }

    /// Takes the next message into `buf` and returns its length. `me` is the consumer's pid,
    /// `cpu` its CPU + 1 (for the producers' spin decision). `buf` may be overwritten even
    /// when no message is returned. [`PopError::Empty`] also when another receiver held the
    /// ring for longer than a short spin.
    #[inline]
    pub(crate) fn pop(&self, buf: &mut [u8], me: i32, cpu: u32) -> Result<usize, PopError> {
        let Some(_lock) = self.lock_receivers(me) else {
            return Err(PopError::Empty);
        };
        let h = self.header;
        // We hold the lock: `next` is ours to read and move.
        let mut pos = h.next.load(Ordering::Relaxed);
        loop {
            let (slot, index) = self.slot(pos);
            // Ask for the slot's second cache line together with the first, so that a
            // message spanning both costs one cross-CPU wait, not two in a row.
            if let Some(word) = slot.payload.get(SECOND_LINE_WORD) {
                std::hint::black_box(word.load(Ordering::Relaxed));
            }
            let seq = slot.seq.load(Ordering::Acquire).wrapping_add(index);
            if seq != pos.wrapping_add(1) {
                // Not published yet (free, or reserved by a producer still copying). Idle:
                // hand back every slot taken.
                self.publish(pos);
                return Err(PopError::Empty);
            }
            let len = slot.len.load(Ordering::Relaxed);
            let next = pos.wrapping_add(1);
            if len == SKIP {
                h.next.store(next, Ordering::Relaxed);
                pos = next;
                continue;
            }
            let wanted = len as usize;
            let Some(out) = buf.get_mut(..wanted) else {
                return Err(PopError::TooSmall { needed: wanted });
            };
            copy_out(slot.payload, out);
            h.next.store(next, Ordering::Relaxed);
            if next.wrapping_sub(h.head.load(Ordering::Relaxed)) >= self.publish_every
                || h.senders_parked.load(Ordering::Relaxed) != 0
            {
                self.publish(next);
            }
            note(&h.receiver_cpu, cpu);
            return Ok(wanted);
        }
    }

    /// Hands the slots before `pos` back to the producers (the caller holds the receivers'
    /// lock). Release: our reads of those slots happen before a producer reuses them.
    #[inline]
    fn publish(&self, pos: u64) {
        if self.header.head.load(Ordering::Relaxed) != pos {
            self.header.head.store(pos, Ordering::Release);
        }
    }

    /// Takes the receivers' lock for `me`: at once when free; after a short spin when another
    /// thread of ours holds it (it is held only while one message is copied); from a dead
    /// process (one that died taking a message: the message stays at `head`). `None` when a
    /// live receiver keeps it.
    #[inline]
    fn lock_receivers(&self, me: i32) -> Option<RecvLock<'a>> {
        let lock = &self.header.recv_lock;
        if lock
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Some(RecvLock(lock));
        }
        lock_contended(lock, me)
    }

    /// If the head slot was reserved by a producer that died before publishing, marks it
    /// [`SKIP`] so consumers move past it. Returns whether it did.
    pub(crate) fn reclaim_stalled(&self, me: i32) -> bool {
        let Some(_lock) = self.lock_receivers(me) else {
            return false;
        };
        let pos = self.header.next.load(Ordering::Relaxed);
        if self.header.tail.load(Ordering::Acquire) == pos {
            return false;
        }
        let (slot, index) = self.slot(pos);
        let stored = slot.seq.load(Ordering::Acquire);
        if stored.wrapping_add(index) == pos.wrapping_add(1) {
            return false;
        }
        // A claim for an older position is the previous lap's: this position's producer has
        // not claimed the slot yet (maybe alive), so leave it.
        let claimed = slot.claim.load(Ordering::Acquire);
        let writer = (claimed >> 32) as u32 as i32;
        if claimed != claim(writer, pos) || writer == 0 || sys::process_alive(writer) {
            return false;
        }
        slot.len.store(SKIP, Ordering::Relaxed);
        let published = pos.wrapping_add(1).wrapping_sub(index);
        slot.seq
            .compare_exchange(stored, published, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Records the receiving process (cheap when unchanged: one load).
    #[inline]
    pub(crate) fn register_receiver(&self, pid: i32) {
        if self.header.receiver_pid.load(Ordering::Relaxed) != pid {
            self.header.receiver_pid.store(pid, Ordering::Relaxed);
        }
    }

    /// Whether a receiver would find nothing to do: every slot taken was handed back
    /// (`head` = `next`) and the slot at `next` is not published for that position. Read
    /// without the receivers' lock, so that a waiter can re-check before it sleeps without a
    /// locked operation. A stale `next` (another thread of ours just moved it) never reads
    /// as idle: its slot then holds the message taken or a later lap's, never the previous
    /// lap's unpublished number (or the initial 0).
    pub(crate) fn idle(&self) -> bool {
        let h = self.header;
        let pos = h.next.load(Ordering::Relaxed);
        if h.head.load(Ordering::Relaxed) != pos {
            return false;
        }
        let (slot, index) = self.slot(pos);
        let stored = slot.seq.load(Ordering::Acquire);
        let previous_lap = pos
            .wrapping_add(1)
            .wrapping_sub(self.mask + 1)
            .wrapping_sub(index);
        stored == previous_lap || (stored == 0 && pos <= self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_trip_every_tail_length() {
        // Whole 64-byte blocks, then whole words, then a partial word: every mix up to 4 blocks.
        let words: Vec<AtomicU64> = (0..32).map(|_| AtomicU64::new(0)).collect();
        for len in 0..=256 {
            // A pattern per length, so that a word left over from the previous length shows.
            let src: Vec<u8> = (0..len).map(|b| ((b * 7 + len) as u8) ^ 0x5a).collect();
            copy_in(&words, &src);
            let mut dst = vec![0u8; len];
            copy_out(&words, &mut dst);
            assert_eq!(src, dst);
        }
    }

    #[test]
    fn bulk_copies_round_trip_around_the_threshold() {
        let words: Vec<AtomicU64> = (0..600).map(|_| AtomicU64::new(u64::MAX)).collect();
        for len in (BULK - 9..=BULK + 9).chain([ATOMIC_PREFIX, 4096, 4799, 4800]) {
            let src: Vec<u8> = (0..len).map(|b| (b % 251) as u8 ^ 0x5a).collect();
            copy_in(&words, &src);
            let mut dst = vec![0u8; len];
            copy_out(&words, &mut dst);
            assert_eq!(src, dst, "{len} bytes");
        }
    }

    /// A mapped segment of `slots` slots of `max` bytes (one ring), unlinked at once.
    fn segment(slots: usize, max: usize) -> (SharedMap, Layout) {
        use std::sync::atomic::AtomicUsize;
        static N: AtomicUsize = AtomicUsize::new(0);
        let stride = (SLOT_HEADER + max).next_multiple_of(128);
        let layout = Layout::new(0, max, slots * stride).unwrap();
        assert_eq!(layout.slots as usize, slots);
        let path = std::env::temp_dir().join(format!(
            "zeus-ring-test.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file.set_len(layout.total_len as u64).unwrap();
        (SharedMap::map(&file, layout.total_len).unwrap(), layout)
    }

    #[test]
    fn fills_drains_and_wraps_many_laps() {
        let (map, layout) = segment(4, 40);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        let mut buf = [0u8; 40];
        let mut next = 0u32;
        for lap in 0..50u32 {
            let burst = 1 + lap % 4;
            for i in 0..burst {
                assert!(ring.push(&(lap * 10 + i).to_le_bytes(), 1, 1));
            }
            if burst == 4 {
                assert!(!ring.push(b"full", 1, 1), "a full ring refuses");
            }
            for i in 0..burst {
                assert_eq!(ring.pop(&mut buf, 1, 1), Ok(4));
                assert_eq!(buf[..4], (lap * 10 + i).to_le_bytes());
                next += 1;
            }
            assert_eq!(ring.pop(&mut buf, 1, 1), Err(PopError::Empty));
        }
        assert!(next > 4 * 20, "went round the ring many times");
        assert!(ring.push(&[7; 40], 1, 1));
        assert_eq!(
            ring.pop(&mut buf[..39], 1, 1),
            Err(PopError::TooSmall { needed: 40 })
        );
        assert_eq!(ring.pop(&mut buf, 1, 1), Ok(40));
    }

    #[test]
    fn a_dead_producers_reserved_slot_is_skipped() {
        let (map, layout) = segment(4, 16);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        let mut buf = [0u8; 16];
        assert!(ring.push(b"first", 1, 1));
        assert_eq!(ring.pop(&mut buf, 1, 1), Ok(5));
        // A producer reserves position 1 and dies before publishing; another publishes 2.
        let dead = 0x3fff_ffff; // above any pid_max: kill() says ESRCH
        ring.header.tail.store(2, Ordering::Relaxed);
        let (slot, _) = ring.slot(1);
        assert!(ring.push(b"third", 1, 1));
        assert_eq!(ring.pop(&mut buf, 1, 1), Err(PopError::Empty));
        // Not claimed yet (maybe a live producer about to): left alone.
        assert!(!ring.reclaim_stalled(1));
        slot.claim.store(claim(dead, 0), Ordering::Relaxed);
        assert!(
            !ring.reclaim_stalled(1),
            "a claim from an older lap is not this one's"
        );
        slot.claim
            .store(claim(sys::current_pid(), 1), Ordering::Relaxed);
        assert!(!ring.reclaim_stalled(1), "a live producer is waited for");
        slot.claim.store(claim(dead, 1), Ordering::Relaxed);
        assert!(ring.reclaim_stalled(1));
        assert_eq!(ring.pop(&mut buf, 1, 1), Ok(5));
        assert_eq!(&buf[..5], b"third");
    }

    #[test]
    fn a_busy_receiver_hands_slots_back_in_batches() {
        let (map, layout) = segment(512, 16);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        assert_eq!(ring.publish_every, PUBLISH_MAX);
        let mut buf = [0u8; 16];
        for n in 0..512u32 {
            assert!(ring.push(&n.to_le_bytes(), 1, 1));
        }
        assert!(!ring.push(b"full", 1, 1));
        for n in 0..PUBLISH_MAX as u32 {
            assert!(!ring.push(b"full", 1, 1), "taken, not yet handed back");
            assert_eq!(ring.pop(&mut buf, 1, 1), Ok(4));
            assert_eq!(buf[..4], n.to_le_bytes());
        }
        assert!(ring.push(b"room", 1, 1), "a batch was handed back");
        while ring.pop(&mut buf, 1, 1).is_ok() {}
        // Finding the ring empty hands back everything taken.
        for n in 0..512u32 {
            assert!(ring.push(&n.to_le_bytes(), 1, 1), "slot {n}");
        }
        assert!(!ring.push(b"full", 1, 1));
    }

    #[test]
    fn the_receivers_lock_of_a_dead_process_is_taken_over() {
        let (map, layout) = segment(4, 16);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        let me = sys::current_pid();
        let mut buf = [0u8; 16];
        assert!(ring.push(b"kept", 1, 1));
        // A live other process (init) is receiving: we do not take its message.
        ring.header.recv_lock.store(1, Ordering::Relaxed);
        assert_eq!(ring.pop(&mut buf, me, 1), Err(PopError::Empty));
        // It died while taking it: the message is still there for us.
        ring.header.recv_lock.store(0x3fff_ffff, Ordering::Relaxed);
        assert_eq!(ring.pop(&mut buf, me, 1), Ok(4));
        assert_eq!(&buf[..4], b"kept");
        assert_eq!(ring.header.recv_lock.load(Ordering::Relaxed), 0, "released");
    }

    #[test]
    fn many_producers_and_consumer_threads_lose_and_tear_nothing() {
        producers_and_consumers(64, 20_000);
    }

    #[test]
    fn bulk_messages_between_threads_are_not_torn() {
        producers_and_consumers(4096, 2_000);
    }

    /// 3 producer threads send `per` messages of `size` bytes each through an 8-slot ring to
    /// 2 consumer threads, which check every word of every message and the order per producer.
    fn producers_and_consumers(size: usize, per: u64) {
        use std::sync::atomic::AtomicUsize;
        let (map, layout) = segment(8, size);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        let taken = AtomicUsize::new(0);
        // Bounded: a lost message must fail the test, not hang it.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let late = || std::time::Instant::now() > give_up;
        let sums: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        std::thread::scope(|s| {
            for p in 0..3u64 {
                let (ring, late) = (&ring, &late);
                s.spawn(move || {
                    for n in 0..per {
                        // Every word of the message says who and which, to catch tearing.
                        let msg: Vec<u8> = (0..size / 8)
                            .flat_map(|_| (p << 32 | n).to_le_bytes())
                            .collect();
                        while !ring.push(&msg, 1, 1) {
                            if late() {
                                return;
                            }
                            std::thread::yield_now();
                        }
                    }
                });
            }
            for _ in 0..2 {
                let (ring, taken, sums, late) = (&ring, &taken, &sums, &late);
                s.spawn(move || {
                    let mut buf = vec![0u8; size];
                    let mut last = [None::<u64>; 3];
                    while taken.load(Ordering::Relaxed) < 3 * per as usize && !late() {
                        match ring.pop(&mut buf, 1, 1) {
                            Ok(len) if len == size => {}
                            Ok(len) => panic!("{len} bytes"),
                            Err(_) => {
                                std::thread::yield_now();
                                continue;
                            }
                        }
                        let word = |i: usize| {
                            u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap())
                        };
                        let words = size / 8;
                        assert!((1..words).all(|i| word(i) == word(0)), "torn message");
                        let (p, n) = ((word(0) >> 32) as usize, word(0) & 0xffff_ffff);
                        // Per producer, one consumer sees increasing numbers.
                        assert!(last[p].is_none_or(|l| l < n), "reordered");
                        last[p] = Some(n);
                        sums[p].fetch_add(n, Ordering::Relaxed);
                        taken.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        for sum in &sums {
            assert_eq!(sum.load(Ordering::Relaxed), per * (per - 1) / 2);
        }
    }

    #[test]
    fn idle_is_exact_over_laps() {
        // 16 slots: the consumer hands slots back every second message.
        let (map, layout) = segment(16, 16);
        let ring = Ring::new(&map, &layout, 0).unwrap();
        let h = ring.header;
        let mut buf = [0u8; 16];
        assert!(ring.idle(), "a new ring");
        let mut lagged = 0;
        for n in 0..40u32 {
            assert!(ring.push(&n.to_le_bytes(), 1, 1));
            assert!(!ring.idle(), "message {n} is waiting");
            assert_eq!(ring.pop(&mut buf, 1, 1), Ok(4));
            if !ring.idle() {
                // Taken but not yet handed back: a pop that finds the ring empty does it.
                lagged += 1;
                assert_eq!(ring.pop(&mut buf, 1, 1), Err(PopError::Empty));
                assert!(ring.idle(), "after {n}");
            }
        }
        assert!(lagged > 0, "the hand-back lag was exercised");
        // A stale `next` (another receiver thread moved on) is never idle: its slot holds
        // the message taken.
        let next = h.next.load(Ordering::Relaxed);
        h.next.store(next - 1, Ordering::Relaxed);
        h.head.store(next - 1, Ordering::Relaxed);
        assert!(!ring.idle());
        // ... nor when that slot holds the next lap's message, still to take.
        assert!(ring.push(b"late", 1, 1));
        h.next.store(next - 16, Ordering::Relaxed);
        h.head.store(next - 16, Ordering::Relaxed);
        assert!(!ring.idle());
        h.next.store(next, Ordering::Relaxed);
        h.head.store(next, Ordering::Relaxed);
        assert_eq!(ring.pop(&mut buf, 1, 1), Ok(4));
        assert_eq!(ring.pop(&mut buf, 1, 1), Err(PopError::Empty));
        // A reserved, unpublished slot is no message.
        h.tail.store(next + 2, Ordering::Relaxed);
        assert!(ring.idle());
    }
}
