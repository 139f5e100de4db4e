//! The only `unsafe` in zeus-memcache: one anonymous `MAP_SHARED` mapping (`MAP_PRIVATE` for
//! the `memory` backend) and the robust process-shared mutexes that live inside it.
//!
//! Invariants kept here:
//! - the mapping is created before any worker is forked, so every worker process (and every
//!   thread) sees the same pages; it is anonymous, so nothing is left in `/dev/shm` when the
//!   last process holding it ends;
//! - every accessor checks its bounds and alignment, so a bug in the store can at worst read
//!   wrong bytes, never memory outside the mapping;
//! - word-sized fields are only ever accessed through atomics (relaxed where a shard lock
//!   orders them), so two processes touching the same word is never a data race; byte runs
//!   (keys, values) are copied only by the holder of the owning shard's lock.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// An anonymous shared mapping, inherited across `fork`.
#[derive(Debug)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain shared memory; all word accesses are atomic and byte-run accesses
// are serialised by the store's shard locks (see the module invariants), so sharing the handle
// between threads is as sound as sharing it between processes.
unsafe impl Send for Region {}
// SAFETY: as for Send: no method hands out a non-atomic `&mut` into the mapping.
unsafe impl Sync for Region {}

/// What `lock` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// The lock was free or released normally.
    Clean,
    /// Its previous owner died holding it: the protected data may be half-written.
    OwnerDied,
}

/// Bytes reserved for one mutex (glibc's `pthread_mutex_t` is 40 bytes on 64-bit Linux).
pub const MUTEX_BYTES: usize = 64;
const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= MUTEX_BYTES);

impl Region {
    /// Maps `len` zeroed bytes shared with every process forked afterwards, or, when
    /// `private`, seen by this process only (a forked child gets its own copy).
    pub fn new(len: usize, private: bool) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty region"));
        }
        let share = if private {
            libc::MAP_PRIVATE
        } else {
            libc::MAP_SHARED
        };
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing; it aliases no
        // Rust object. MAP_NORESERVE: pages are only charged when first written.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                share | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Self { base, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    fn check(&self, off: usize, len: usize, align: usize) {
        assert!(
            off.is_multiple_of(align) && off.checked_add(len).is_some_and(|e| e <= self.len),
            "invariant: region access {off}+{len} (align {align}) inside {}",
            self.len
        );
    }

    fn ptr(&self, off: usize) -> *mut u8 {
        self.base.as_ptr().wrapping_add(off)
    }

    /// The 64-bit word at `off`.
    pub fn u64(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, 8);
        // SAFETY: in bounds and 8-aligned (checked; the mapping is page-aligned); every access
        // to this word, in any process, goes through an atomic, and all bit patterns are valid.
        unsafe { &*self.ptr(off).cast::<AtomicU64>() }
    }

    /// The 32-bit word at `off`.
    pub fn u32(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, 4);
        // SAFETY: as for `u64`, with 4-byte size and alignment.
        unsafe { &*self.ptr(off).cast::<AtomicU32>() }
    }

    /// Copies `src` to `off` (caller holds the lock owning those bytes).
    pub fn write(&self, off: usize, src: &[u8]) {
        self.check(off, src.len(), 1);
        // SAFETY: destination in bounds (checked); `src` is a Rust slice, so it cannot overlap
        // the shared mapping's bytes being written under the shard lock.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr(off), src.len()) }
    }

    /// Copies `len` bytes at `off` onto the end of `out`.
    pub fn read_into(&self, off: usize, len: usize, out: &mut Vec<u8>) {
        self.check(off, len, 1);
        out.reserve(len);
        let at = out.len();
        let dst = out.as_mut_ptr().wrapping_add(at);
        // SAFETY: source in bounds (checked), destination is the reserved spare capacity of
        // `out`, which is not part of the mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(off), dst, len) };
        // SAFETY: the `len` bytes after `at` were just initialised.
        unsafe { out.set_len(at + len) };
    }

    /// Whether the `key.len()` bytes at `off` equal `key`.
    pub fn equals(&self, off: usize, key: &[u8]) -> bool {
        self.check(off, key.len(), 1);
        // SAFETY: in bounds (checked); the bytes belong to an item of the shard whose lock the
        // caller holds, so no one writes them while the temporary slice lives.
        let here = unsafe { std::slice::from_raw_parts(self.ptr(off), key.len()) };
        here == key
    }

    /// Moves `len` bytes from `src` to `dst` inside the region (ranges may overlap).
    pub fn copy_within(&self, src: usize, dst: usize, len: usize) {
        self.check(src, len, 1);
        self.check(dst, len, 1);
        // SAFETY: both ranges in bounds (checked); `copy` allows overlap.
        unsafe { std::ptr::copy(self.ptr(src), self.ptr(dst), len) }
    }

    /// Sets `len` bytes at `off` to zero.
    pub fn zero(&self, off: usize, len: usize) {
        self.check(off, len, 1);
        // SAFETY: in bounds (checked); the caller owns those bytes (lock held or not yet shared).
        unsafe { std::ptr::write_bytes(self.ptr(off), 0, len) }
    }

    fn mutex(&self, off: usize) -> *mut libc::pthread_mutex_t {
        self.check(off, MUTEX_BYTES, 8);
        self.ptr(off).cast()
    }

    /// Initialises a robust, process-shared mutex at `off` (before the region is shared).
    pub fn mutex_init(&self, off: usize) -> io::Result<()> {
        let m = self.mutex(off);
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is local storage for the attribute object being initialised.
        errno(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
        // SAFETY: `attr` was initialised just above.
        let shared = unsafe {
            libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED)
        };
        // SAFETY: `attr` was initialised just above.
        let robust = unsafe {
            libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST)
        };
        // SAFETY: `m` points at MUTEX_BYTES in-bounds, aligned bytes no process uses yet.
        let init = unsafe { libc::pthread_mutex_init(m, attr.as_ptr()) };
        // SAFETY: `attr` is initialised and no longer needed.
        unsafe { libc::pthread_mutexattr_destroy(attr.as_mut_ptr()) };
        errno(shared)?;
        errno(robust)?;
        errno(init)
    }

    /// Locks the mutex at `off`; reports a dead previous owner instead of hanging.
    pub fn mutex_lock(&self, off: usize) -> io::Result<Locked> {
        // SAFETY: the mutex at `off` was initialised by `mutex_init` before the region was shared
        // (the store's constructor does this for every lock slot) and is never moved.
        match unsafe { libc::pthread_mutex_lock(self.mutex(off)) } {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => Ok(Locked::OwnerDied),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Tries to lock the mutex at `off` without waiting; `None` when another live thread holds it.
    pub fn mutex_trylock(&self, off: usize) -> io::Result<Option<Locked>> {
        // SAFETY: as `mutex_lock`: initialised before the region was shared, never moved.
        match unsafe { libc::pthread_mutex_trylock(self.mutex(off)) } {
            0 => Ok(Some(Locked::Clean)),
            libc::EOWNERDEAD => Ok(Some(Locked::OwnerDied)),
            libc::EBUSY => Ok(None),
            e => Err(io::Error::from_raw_os_error(e)),
        }
    }

    /// Marks a mutex acquired with `OwnerDied` consistent again (after repairing its data).
    pub fn mutex_consistent(&self, off: usize) -> io::Result<()> {
        // SAFETY: initialised mutex (see `mutex_lock`), held by this thread after EOWNERDEAD.
        errno(unsafe { libc::pthread_mutex_consistent(self.mutex(off)) })
    }

    /// Unlocks the mutex at `off`, held by this thread.
    pub fn mutex_unlock(&self, off: usize) {
        // SAFETY: initialised mutex (see `mutex_lock`); callers unlock only what they locked
        // (the store's guard type pairs them).
        let r = unsafe { libc::pthread_mutex_unlock(self.mutex(off)) };
        debug_assert_eq!(r, 0, "unlock of a mutex this thread holds");
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; references into it borrow `self`,
        // so none outlives this call. Other processes keep their own mappings.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Runs `f` in a forked child that then exits without unwinding or unlocking anything, and
/// waits for it: how tests make a process die while holding a shard lock.
#[cfg(test)]
pub fn in_child_that_dies(f: impl FnOnce()) {
    // SAFETY: the child only runs `f` (lock operations on the shared region, no allocation
    // needed) and leaves with `_exit`, so no state copied from the other test threads is used.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            f();
            // SAFETY: `_exit` ends the child at once; nothing of the parent's state is touched.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).expect("waitpid");
        }
    }
}

fn errno(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_bytes_round_trip() {
        let r = Region::new(4096, false).unwrap();
        r.u64(8).store(7, std::sync::atomic::Ordering::Relaxed);
        r.write(100, b"hello");
        let mut out = Vec::new();
        r.read_into(100, 5, &mut out);
        assert_eq!(out, b"hello");
        assert!(r.equals(100, b"hello"));
        assert_eq!(r.u64(8).load(std::sync::atomic::Ordering::Relaxed), 7);
    }

    #[test]
    #[should_panic(expected = "invariant")]
    fn out_of_bounds_is_refused() {
        let r = Region::new(4096, false).unwrap();
        r.write(4094, b"abc");
    }

    #[test]
    fn a_dead_owner_is_reported_not_waited_for() {
        let r = Region::new(4096, false).unwrap();
        r.mutex_init(0).unwrap();
        in_child_that_dies(|| {
            r.mutex_lock(0).unwrap();
        });
        assert_eq!(r.mutex_lock(0).unwrap(), Locked::OwnerDied);
        r.mutex_consistent(0).unwrap();
        r.mutex_unlock(0);
        assert_eq!(r.mutex_lock(0).unwrap(), Locked::Clean);
        r.mutex_unlock(0);
    }

    #[test]
    fn robust_mutex_locks_and_unlocks() {
        let r = Region::new(4096, false).unwrap();
        r.mutex_init(0).unwrap();
        assert_eq!(r.mutex_lock(0).unwrap(), Locked::Clean);
        r.mutex_unlock(0);
        assert_eq!(r.mutex_lock(0).unwrap(), Locked::Clean);
        r.mutex_unlock(0);
    }
}
