//! The bytes of an mmap channel's segment: `#[repr(C)]` structs made only of atomics, placed
//! at offsets (never pointers, which differ between processes) computed by [`Layout`].
//!
//! ```text
//! 0        SegmentHeader   magic "zeusring", layout version, geometry, hub pid   (128 B)
//! 128      ring 0 (hub)    RingHeader: head | recv lock, next | tail | wait words  (4 × 128 B)
//!          slot 0..n-1     3 header words (seq, claim, len) + payload words, stride = 128·k
//! 128+R    ring 1 (worker 1) ...
//! ```
//!
//! Invariants: head, the receivers' lock and tail sit in their own aligned 128-byte pairs of
//! cache lines, and so does every slot. A line is the unit of coherence, but x86's L2
//! spatial prefetcher fetches the other line of a pair along with a missed one: a slot
//! straddling two pairs made the consumer pull the next slot's header, which a producer was
//! about to write (a 64-byte round trip 1.4x slower than with aligned pairs). An all-zero
//! segment is a valid empty channel (slot sequence numbers are stored relative to the slot index, see
//! [`super::ring`]), so creating one touches only the header pages.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64};

/// `b"zeusring"`: says that a segment was laid out by this module.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"zeusring");
/// Bumped on any change of the structs below or of the ring protocol.
pub(crate) const VERSION: u32 = 8;

/// The unit of placement: a pair of 64-byte cache lines (see the module docs).
const PAIR: usize = 128;

/// Segment header, at offset 0.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct SegmentHeader {
    /// [`MAGIC`], written last at creation (release), so an opener never sees a half-made one.
    pub(crate) magic: AtomicU64,
    /// [`VERSION`].
    pub(crate) version: AtomicU32,
    /// Worker mailboxes (rings = workers + 1).
    pub(crate) workers: AtomicU32,
    /// Slots per ring, a power of two.
    pub(crate) slots: AtomicU32,
    /// Bytes from one slot to the next.
    pub(crate) slot_stride: AtomicU32,
    /// Largest message.
    pub(crate) max_message: AtomicU32,
    /// Pid of the creating (hub) process.
    pub(crate) hub_pid: AtomicI32,
    /// Segment length in bytes.
    pub(crate) total_len: AtomicU64,
}

/// One mailbox's ring header: four aligned 128-byte pairs of lines, one per role.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct RingHeader {
    /// Position up to which the consumers are done with the slots, published by the one
    /// holding `recv_lock` every few messages; producers read it once per lap at most.
    pub(crate) head: AtomicU64,
    _pad_head: [AtomicU64; 15],
    /// Pid of the process one of whose threads is taking a message (0: none). Only the
    /// receiving process touches this pair, so taking it is a locked operation on a line
    /// that stays in the consumer's cache; a dead holder's lock is taken over.
    pub(crate) recv_lock: AtomicI32,
    _pad_lock: AtomicI32,
    /// Next position to consume, under `recv_lock`; `head` trails it by less than
    /// [`super::ring`]'s publication batch.
    pub(crate) next: AtomicU64,
    _pad_next: [AtomicU64; 14],
    /// Next position to produce (producers CAS it).
    pub(crate) tail: AtomicU64,
    /// The last `head` a producer read: on the producers' line, so that checking for room
    /// does not pull the consumers' line across CPUs on every message.
    pub(crate) head_cache: AtomicU64,
    _pad_tail: [AtomicU64; 14],
    // The last pair is read on every operation but written rarely (a new receiver, a CPU
    // change, a park), so it stays shared between the caches instead of bouncing.
    /// Pid of the process that last received here (0: none yet).
    pub(crate) receiver_pid: AtomicI32,
    /// CPU + 1 of the last consumer (0: unknown), for the producers' spin decision.
    pub(crate) receiver_cpu: AtomicU32,
    /// CPU + 1 of the last producer (0: unknown), for the consumers' spin decision.
    pub(crate) sender_cpu: AtomicU32,
    /// Futex word bumped when a message is published while a receiver is parked.
    pub(crate) data_futex: AtomicU32,
    /// Receivers parked (or about to park) on `data_futex`.
    pub(crate) receivers_parked: AtomicU32,
    /// Futex word bumped when a slot is freed while a sender is parked.
    pub(crate) space_futex: AtomicU32,
    /// Senders parked (or about to park) on `space_futex`.
    pub(crate) senders_parked: AtomicU32,
    /// Hub endpoints sleeping in `poll` on the doorbell (`bell.rs`), apart from the futex
    /// waiters: a sender rings the bell only for these, and wakes the futex only for those.
    pub(crate) bell_armed: AtomicU32,
    /// 1 once a waker has woken the receivers parked on `data_futex` (0: not since the
    /// last one announced itself); `wake` calls `FUTEX_WAKE` only when it sets it.
    pub(crate) data_woken: AtomicU32,
    /// The same for the senders parked on `space_futex` (both flags: layout version 8).
    pub(crate) space_woken: AtomicU32,
    _pad_wait: [AtomicU32; 22],
}

/// A slot is a run of 8-byte atomic words, written only by producers: three header words,
/// then the payload. Version 7 made the slot header words (it was a struct with a 32-bit
/// `len` and padding, at the same offsets), so that a ring is one checked slice of words
/// and finding a slot is an index, not two checked views per message. In order:
///
/// - `seq`: position published last (plus one), minus the slot index (so zero is the
///   initial state);
/// - `claim`: pid of the producer that reserved the slot (high half) and the position's low
///   32 bits;
/// - `len`: payload length, or [`super::ring::SKIP`] for a slot reclaimed from a dead writer.
pub(crate) const SLOT_HEADER_WORDS: usize = 3;
/// Bytes of a slot's header.
pub(crate) const SLOT_HEADER: usize = SLOT_HEADER_WORDS * 8;

const _: () = assert!(size_of::<SegmentHeader>() == PAIR && align_of::<SegmentHeader>() == PAIR);
const _: () = assert!(size_of::<RingHeader>() == 4 * PAIR && align_of::<RingHeader>() == PAIR);

/// Largest segment we agree to create (address space and tmpfs are not free).
pub(crate) const MAX_SEGMENT: usize = 1 << 30;

/// Geometry of a segment, derived from the options (creator) or the header (opener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) workers: u32,
    pub(crate) slots: u32,
    pub(crate) slot_stride: usize,
    pub(crate) max_message: usize,
    ring_len: usize,
    pub(crate) total_len: usize,
}

impl Layout {
    /// Slots hold `max_message` bytes; a ring gets `capacity / stride` slots rounded down to a
    /// power of two, at least 2. `Err` names the limit that was hit.
    pub(crate) fn new(workers: u32, max_message: usize, capacity: usize) -> Result<Self, usize> {
        let slot_stride = (SLOT_HEADER + max_message).next_multiple_of(PAIR);
        let fit = (capacity / slot_stride).max(2);
        let slots = if fit.is_power_of_two() {
            fit
        } else {
            fit.next_power_of_two() / 2
        };
        Self::with(workers, slots, slot_stride, max_message)
    }

    fn with(workers: u32, slots: usize, stride: usize, max: usize) -> Result<Self, usize> {
        let ring_len = slots
            .checked_mul(stride)
            .and_then(|s| s.checked_add(size_of::<RingHeader>()))
            .filter(|len| *len <= MAX_SEGMENT)
            .ok_or(MAX_SEGMENT)?;
        let total_len = (workers as usize + 1)
            .checked_mul(ring_len)
            .and_then(|t| t.checked_add(size_of::<SegmentHeader>()))
            .filter(|len| *len <= MAX_SEGMENT)
            .ok_or(MAX_SEGMENT)?;
        Ok(Self {
            workers,
            slots: u32::try_from(slots).map_err(|_| MAX_SEGMENT)?,
            slot_stride: stride,
            max_message: max,
            ring_len,
            total_len,
        })
    }

    /// The geometry a header describes, if it is self-consistent.
    pub(crate) fn from_header(h: &SegmentHeader) -> Option<Self> {
        use std::sync::atomic::Ordering::Acquire;
        let slots = h.slots.load(Acquire) as usize;
        let stride = h.slot_stride.load(Acquire) as usize;
        let max = h.max_message.load(Acquire) as usize;
        if !slots.is_power_of_two() || stride % PAIR != 0 || stride < max + SLOT_HEADER {
            return None;
        }
        let layout = Self::with(h.workers.load(Acquire), slots, stride, max).ok()?;
        (layout.total_len as u64 == h.total_len.load(Acquire)).then_some(layout)
    }

    /// Offset of mailbox `index`'s ring header.
    pub(crate) fn ring_offset(&self, index: u32) -> usize {
        size_of::<SegmentHeader>() + index as usize * self.ring_len
    }

    /// Offset of the first slot of the ring at `ring_offset`.
    pub(crate) fn slots_offset(&self, ring_offset: usize) -> usize {
        ring_offset + size_of::<RingHeader>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_lines_and_power_of_two() {
        let l = Layout::new(3, 64, 64 * 1024).unwrap();
        assert_eq!(l.slot_stride, 128);
        assert_eq!(l.slots, 512);
        assert_eq!(l.ring_offset(1) - l.ring_offset(0), 512 + 512 * 128);
        assert_eq!(l.total_len, 128 + 4 * (512 + 512 * 128));
        assert_eq!(l.ring_offset(2) % 128, 0);
        assert_eq!(Layout::new(0, 4000, 64 * 1024).unwrap().slot_stride, 4096);
        assert!(l.slot_stride - SLOT_HEADER >= 64);
        let tiny = Layout::new(0, 4000, 4000).unwrap();
        assert_eq!(tiny.slots, 2);
        assert_eq!(Layout::new(4096, 1 << 20, 1 << 30), Err(MAX_SEGMENT));
    }
}
