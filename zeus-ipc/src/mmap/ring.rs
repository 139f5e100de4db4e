//! One mailbox's ring: a bounded multi-producer multi-consumer queue of fixed-size slots
//! (D. Vyukov's bounded MPMC queue) living in the shared segment. Lock-free, no system call.
//!
//! Each slot carries a sequence number: a producer that reserved position `p` (by CAS on
//! `tail`) fills the slot and publishes it with `seq = p + 1` (release); a consumer that
//! reserved `p` (CAS on `head`) reads it and frees it with `seq = p + slots` (release). The
//! number is stored minus the slot index, so the all-zero segment is the initial state.
//!
//! Crash safety: a producer killed between reserving and publishing would wedge the ring
//! for good. It writes its pid into the slot right after reserving; a consumer that finds the
//! head slot reserved but unpublished, with a dead writer, marks it [`SKIP`] and moves on
//! ([`Ring::reclaim_stalled`]). Only a death in the few instructions between the CAS and the
//! pid store is not recoverable (the consumer then keeps reporting `Empty`/`Timeout`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::layout::{Layout, RingHeader, SlotHeader};
use crate::sys::{self, SharedMap};

/// `len` of a slot reclaimed from a dead producer: consumers skip it.
pub(crate) const SKIP: u32 = u32::MAX;

/// Why nothing was taken from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PopError {
    /// No message.
    Empty,
    /// The caller's buffer is shorter than the next message, which stays queued.
    TooSmall { needed: usize },
}

/// A view of one ring inside a mapped segment.
#[derive(Debug)]
pub(crate) struct Ring<'a> {
    pub(crate) header: &'a RingHeader,
    map: &'a SharedMap,
    layout: &'a Layout,
    offset: usize,
    mask: u64,
}

// Whole words go through fixed-size arrays, so each is one 8-byte load and one store (a
// variable-length `copy_from_slice` per word would be a `memcpy` call each, 15x slower).
fn copy_in(words: &[AtomicU64], src: &[u8]) {
    let mut chunks = src.chunks_exact(8);
    for (word, chunk) in words.iter().zip(&mut chunks) {
        if let Ok(bytes) = <[u8; 8]>::try_from(chunk) {
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
    }
    let rest = chunks.remainder();
    if let (false, Some(word)) = (rest.is_empty(), words.get(src.len() / 8)) {
        let mut bytes = [0u8; 8];
        bytes[..rest.len()].copy_from_slice(rest);
        word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
    }
}

fn copy_out(words: &[AtomicU64], dst: &mut [u8]) {
    let whole = dst.len() / 8;
    let mut chunks = dst.chunks_exact_mut(8);
    for (chunk, word) in (&mut chunks).zip(words) {
        let bytes: &mut [u8; 8] = match chunk.try_into() {
            Ok(bytes) => bytes,
            Err(_) => continue,
        };
        *bytes = word.load(Ordering::Relaxed).to_ne_bytes();
    }
    let rest = chunks.into_remainder();
    if let (false, Some(word)) = (rest.is_empty(), words.get(whole)) {
        let len = rest.len();
        rest.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes()[..len]);
    }
}

/// Stores `value` unless already there (a load is cheaper than dirtying a shared line).
fn note(word: &AtomicU32, value: u32) {
    if word.load(Ordering::Relaxed) != value {
        word.store(value, Ordering::Relaxed);
    }
}

impl<'a> Ring<'a> {
    /// The ring of mailbox `index`; `None` if the layout does not fit the mapping (the
    /// callers checked it at creation, so this is an invariant).
    pub(crate) fn new(map: &'a SharedMap, layout: &'a Layout, index: u32) -> Option<Self> {
        let offset = layout.ring_offset(index);
        let header = map.view::<RingHeader>(offset)?;
        Some(Self {
            header,
            map,
            layout,
            offset,
            mask: u64::from(layout.slots) - 1,
        })
    }

    fn slot(&self, pos: u64) -> (&'a SlotHeader, &'a [AtomicU64], u64) {
        let index = pos & self.mask;
        // `index < slots`, and `Layout` sized the mapping for every slot of every ring.
        let at = self.layout.slot_offset(self.offset, index as usize);
        let header = self
            .map
            .view::<SlotHeader>(at)
            .expect("invariant: slot header inside the mapping");
        let words = self
            .map
            .words(at + 16, self.layout.payload_words())
            .expect("invariant: slot payload inside the mapping");
        (header, words, index)
    }

    /// Appends `msg` (the caller checked its size); `false` when the ring is full. `me` is
    /// the producer's pid, `cpu` its CPU + 1 (for the consumer's spin decision).
    pub(crate) fn push(&self, msg: &[u8], me: i32, cpu: u32) -> bool {
        let mut pos = self.header.tail.load(Ordering::Relaxed);
        let (slot, words) = loop {
            let (slot, words, index) = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire).wrapping_add(index);
            match seq.wrapping_sub(pos) as i64 {
                0 => match self.header.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break (slot, words),
                    Err(now) => pos = now,
                },
                // The slot still holds the message of the previous lap: full.
                d if d < 0 => return false,
                _ => pos = self.header.tail.load(Ordering::Relaxed),
            }
        };
        slot.writer_pid.store(me, Ordering::Relaxed);
        note(&self.header.sender_cpu, cpu);
        // Sizes were checked against max_message (< u32::MAX / 2) by the caller.
        slot.len.store(msg.len() as u32, Ordering::Relaxed);
        copy_in(words, msg);
        let index = pos & self.mask;
        slot.seq
            .store(pos.wrapping_add(1).wrapping_sub(index), Ordering::Release);
        true
    }

    /// Takes the next message into `buf` and returns its length. `cpu` is the consumer's
    /// CPU + 1 (for the producers' spin decision).
    pub(crate) fn pop(&self, buf: &mut [u8], cpu: u32) -> Result<usize, PopError> {
        let mut pos = self.header.head.load(Ordering::Relaxed);
        loop {
            let (slot, words, index) = self.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire).wrapping_add(index);
            match seq.wrapping_sub(pos.wrapping_add(1)) as i64 {
                0 => {
                    let len = slot.len.load(Ordering::Relaxed);
                    let wanted = len as usize;
                    if len != SKIP && wanted > buf.len() {
                        return Err(PopError::TooSmall { needed: wanted });
                    }
                    if let Err(now) = self.header.head.compare_exchange_weak(
                        pos,
                        pos.wrapping_add(1),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        pos = now;
                        continue;
                    }
                    note(&self.header.receiver_cpu, cpu);
                    if len != SKIP {
                        copy_out(words, &mut buf[..wanted]);
                    }
                    slot.writer_pid.store(0, Ordering::Relaxed);
                    let free = pos.wrapping_add(self.mask + 1).wrapping_sub(index);
                    slot.seq.store(free, Ordering::Release);
                    if len != SKIP {
                        return Ok(wanted);
                    }
                    pos = pos.wrapping_add(1);
                }
                // Not published yet (free, or reserved by a producer still copying).
                d if d < 0 => return Err(PopError::Empty),
                _ => pos = self.header.head.load(Ordering::Relaxed),
            }
        }
    }

    /// If the head slot was reserved by a producer that died before publishing, marks it
    /// [`SKIP`] so consumers move past it. Returns whether it did.
    pub(crate) fn reclaim_stalled(&self) -> bool {
        let pos = self.header.head.load(Ordering::Acquire);
        if self.header.tail.load(Ordering::Acquire) == pos {
            return false;
        }
        let (slot, _, index) = self.slot(pos);
        let stored = slot.seq.load(Ordering::Acquire);
        if stored.wrapping_add(index) != pos {
            return false;
        }
        // Reset to 0 by the consumer before it freed the slot, so this is the current
        // reserver's pid or 0 (it has not written it yet: maybe alive, so leave it).
        let writer = slot.writer_pid.load(Ordering::Acquire);
        if writer == 0 || sys::process_alive(writer) {
            return false;
        }
        slot.len.store(SKIP, Ordering::Relaxed);
        let published = pos.wrapping_add(1).wrapping_sub(index);
        slot.seq
            .compare_exchange(stored, published, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Records the receiving process (cheap when unchanged: one load).
    pub(crate) fn register_receiver(&self, pid: i32) {
        if self.header.receiver_pid.load(Ordering::Relaxed) != pid {
            self.header.receiver_pid.store(pid, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_round_trip_every_tail_length() {
        let words: Vec<AtomicU64> = (0..4).map(|_| AtomicU64::new(0)).collect();
        for len in 0..=32 {
            let src: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(7) ^ 0x5a).collect();
            copy_in(&words, &src);
            let mut dst = vec![0u8; len];
            copy_out(&words, &mut dst);
            assert_eq!(src, dst);
        }
    }
}
