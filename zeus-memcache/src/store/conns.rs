//! Open connections over all workers (`curr_connections`, `max_connections`), counted so
//! that a worker killed with its clients open stops counting.
//!
//! Contract:
//! - each worker thread claims one slot in its own small shared mapping (created with the
//!   store, before any fork) and holds the slot's robust mutex for as long as it serves;
//!   it alone changes the slot's count;
//! - a slot whose owner died (process SIGKILLed, thread gone) is seen as `EOWNERDEAD` by
//!   the next `try_lock`: whoever sees it zeroes the count and frees the slot, so the total
//!   drops back without any help from the scheduler and a reused pid cannot fool it;
//! - the total is the sum of the slots; admission adds first and checks after, so racing
//!   admissions may refuse one client too many, never admit one too many;
//! - with every slot taken, a worker counts in a shared overflow word (not repaired on death).

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;

use crate::sys::{Locked, Region, MUTEX_BYTES};

/// Worker threads that get a repairable slot (more share the overflow word).
pub const SLOTS: usize = 1024;
/// Bytes per slot: the mutex, then the count.
const SLOT_BYTES: usize = MUTEX_BYTES + 64;
/// Header words: the overflow count, then the high-water mark of claimed slots.
const OVERFLOW: usize = 0;
const HIGH: usize = 8;
const HEADER: usize = 64;

/// The connection table.
#[derive(Debug)]
pub struct Connections {
    region: Region,
}

impl Connections {
    /// Maps the table; call before forking the workers.
    pub fn new() -> io::Result<Self> {
        let region = Region::new(HEADER + SLOTS * SLOT_BYTES, false)?;
        for i in 0..SLOTS {
            region.mutex_init(mutex(i))?;
        }
        Ok(Self { region })
    }

    fn count(&self, i: usize) -> &AtomicU64 {
        self.region.u64(mutex(i) + MUTEX_BYTES)
    }

    fn word(&self, off: usize) -> &AtomicU64 {
        self.region.u64(off)
    }

    /// Claims a free slot (or one whose owner died) for the calling thread, which must
    /// release it from the same thread (the `Slot` is not `Send`).
    pub fn claim(&self) -> Slot<'_> {
        for i in 0..SLOTS {
            let Ok(Some(got)) = self.region.mutex_trylock(mutex(i)) else {
                continue;
            };
            self.count(i).store(0, SeqCst);
            if got == Locked::OwnerDied {
                // Already zeroed: the dead worker's clients are gone with it.
                let _ = self.region.mutex_consistent(mutex(i));
            }
            self.word(HIGH).fetch_max(i as u64 + 1, SeqCst);
            return Slot {
                table: self,
                index: Some(i),
                _not_send: std::marker::PhantomData,
            };
        }
        tracing::warn!("more than {SLOTS} memcache workers: connections of the extra ones are not repaired if they die");
        Slot {
            table: self,
            index: None,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Open connections over all workers; frees the slots of dead workers on the way.
    /// `own` is the caller's slot (held by it, so not probed).
    pub fn total(&self, own: Option<usize>) -> u64 {
        let high = self.word(HIGH).load(SeqCst) as usize;
        let mut sum = self.word(OVERFLOW).load(SeqCst);
        for i in 0..high.min(SLOTS) {
            let n = self.count(i).load(SeqCst);
            if n == 0 || Some(i) == own {
                sum += n;
                continue;
            }
            match self.region.mutex_trylock(mutex(i)) {
                // Held: its owner is alive and counts its clients.
                Ok(None) | Err(_) => sum += n,
                Ok(Some(got)) => {
                    // Dead owner, or a free slot left non-zero: nobody serves these clients.
                    self.count(i).store(0, SeqCst);
                    if got == Locked::OwnerDied {
                        let _ = self.region.mutex_consistent(mutex(i));
                    }
                    self.region.mutex_unlock(mutex(i));
                }
            }
        }
        sum
    }
}

fn mutex(i: usize) -> usize {
    HEADER + i * SLOT_BYTES
}

/// One worker thread's share of the table; frees the slot on drop.
#[derive(Debug)]
pub struct Slot<'a> {
    table: &'a Connections,
    index: Option<usize>,
    /// The slot's mutex belongs to the thread that claimed it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Slot<'_> {
    fn word(&self) -> &AtomicU64 {
        match self.index {
            Some(i) => self.table.count(i),
            None => self.table.word(OVERFLOW),
        }
    }

    /// Counts a new connection unless `max` are already open over all workers.
    pub fn admit(&self, max: u64) -> bool {
        self.word().fetch_add(1, SeqCst);
        if self.table.total(self.index) > max {
            self.word().fetch_sub(1, SeqCst);
            return false;
        }
        true
    }

    /// Counts a closed connection.
    pub fn close(&self) {
        self.word().fetch_sub(1, SeqCst);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.index {
            self.table.count(i).store(0, SeqCst);
            self.table.region.mutex_unlock(mutex(i));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::in_child_that_dies;

    #[test]
    fn admits_up_to_max_and_frees_on_drop() {
        let t = Connections::new().unwrap();
        let a = t.claim();
        let b = t.claim();
        assert!(a.admit(3) && a.admit(3) && b.admit(3));
        assert!(!b.admit(3), "a fourth connection over max 3");
        assert_eq!(t.total(None), 3);
        a.close();
        assert_eq!(t.total(None), 2);
        drop(b);
        assert_eq!(t.total(None), 1);
        drop(a);
        assert_eq!(t.total(None), 0);
    }

    #[test]
    fn a_dead_workers_connections_stop_counting() {
        let t = Connections::new().unwrap();
        let live = t.claim();
        assert!(live.admit(10));
        in_child_that_dies(|| {
            let s = t.claim();
            for _ in 0..5 {
                assert!(s.admit(10));
            }
            // Dies holding the slot with 5 open connections.
            std::mem::forget(s);
        });
        assert_eq!(t.total(None), 1, "the dead child's 5 connections are gone");
        for _ in 0..9 {
            assert!(live.admit(10), "max_connections is not eaten");
        }
        assert!(!live.admit(10));
        // The dead child's slot is reusable.
        let again: Vec<_> = (0..3).map(|_| t.claim()).collect();
        assert!(again.iter().all(|s| s.index.is_some()));
    }
}
