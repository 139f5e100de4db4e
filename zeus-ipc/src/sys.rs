//! The crate's only `unsafe`: raw calls that `nix` does not wrap (System V message queues and
//! semaphores, futex, `pthread_atfork`), a cache prefetch hint and the typed views into a
//! shared mapping.
//!
//! Every function here is safe to call: it checks what the kernel cannot (bounds, alignment,
//! buffer sizes) and returns the raw [`Errno`], which the adapter maps to its typed error at
//! the one place that knows the context. Each `unsafe` block names the precondition it relies
//! on and why it holds (`// SAFETY:`); the workspace lints refuse a block without one.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::mem::{align_of, size_of, MaybeUninit};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::mmap::layout::{RingHeader, SegmentHeader};

// ---------------------------------------------------------------------------------------------
// Process identity

/// The cached pid of this process; 0 = unknown. Reset in the child of every `fork` by the
/// `pthread_atfork` handler, so a handle inherited across `fork` sees the child's pid.
static PID: AtomicI32 = AtomicI32::new(0);
static ATFORK: Once = Once::new();
static ATFORK_OK: AtomicBool = AtomicBool::new(false);

extern "C" fn forget_pid_in_child() {
    // Only an atomic store: async-signal-safe, so fine in the child of a threaded fork.
    PID.store(0, Ordering::Relaxed);
}

/// This process's pid, without a system call on the fast path (the receive path records it
/// on every call, and `getpid` is a real syscall in glibc ≥ 2.25).
#[inline]
pub(crate) fn current_pid() -> i32 {
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    learn_pid()
}

/// [`current_pid`] the first time (and after a `fork`).
#[cold]
#[inline(never)]
fn learn_pid() -> i32 {
    ATFORK.call_once(|| {
        // SAFETY: registers a child handler that only performs an atomic store; it never
        // unregisters, and the function it points to lives for the whole program.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_pid_in_child)) };
        ATFORK_OK.store(rc == 0, Ordering::Relaxed);
    });
    let pid = nix::unistd::getpid().as_raw();
    if ATFORK_OK.load(Ordering::Relaxed) {
        PID.store(pid, Ordering::Relaxed);
    }
    pid
}

/// This thread's CPU, `None` when unknown. glibc reads it from the thread's `rseq` area (no
/// system call). Called directly rather than through `nix`, whose wrapper is a call frame of
/// its own: every mmap `send` and `recv` asks.
#[inline]
pub(crate) fn current_cpu() -> Option<u32> {
    // SAFETY: `sched_getcpu` takes no argument and writes no memory of ours; it returns -1
    // (errno set) when it cannot tell.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).ok()
}

/// Whether `pid` names a live process. Zombies count as dead: a process that exited but was
/// not yet reaped can never send or receive again. `pid <= 0` means "unknown" and is
/// reported alive, so callers fall back to their timeout.
pub(crate) fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => false,
        // EPERM: it exists but belongs to someone else, so it is alive.
        Ok(()) | Err(_) => !is_zombie(pid),
    }
}

fn is_zombie(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state is the first field after the command, which is in parentheses and may
    // itself contain ") ".
    stat.rfind(')')
        .and_then(|end| stat[end + 1..].trim_start().chars().next())
        .is_some_and(|state| matches!(state, 'Z' | 'X' | 'x'))
}

/// A number from `/proc/sys` (e.g. `kernel/msgmax`), `None` if unreadable.
pub(crate) fn kernel_limit(key: &str) -> Option<usize> {
    std::fs::read_to_string(format!("/proc/sys/{key}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Futex

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos()),
    }
}

/// Sleeps while `word == expected`, at most `timeout`. Shared (not `_PRIVATE`) so that it
/// works on a `MAP_SHARED` mapping across processes. Returns `Ok` when woken, `EAGAIN` if
/// the value already differed, `ETIMEDOUT`, or `EINTR`.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Result<(), Errno> {
    let ts = timespec(timeout);
    // SAFETY: `word` is a live, aligned 4-byte atomic for the whole call (it is borrowed);
    // FUTEX_WAIT only reads it atomically; `ts` is a valid timespec on this stack frame; the
    // last two arguments are ignored by FUTEX_WAIT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Wakes up to `count` waiters parked on `word` (in any process).
pub(crate) fn futex_wake(word: &AtomicU32, count: i32) {
    // SAFETY: `word` is a live, aligned atomic; FUTEX_WAKE does not access its value, only
    // uses its address as the key; the unused arguments may be anything.
    let _woken = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, count) };
}

/// Asks for the cache line holding `word` in a writable (exclusive) state ahead of a store
/// (x86-64 `PREFETCHW`; elsewhere nothing). A hint only: it changes no memory and no value.
pub(crate) fn prefetch_write(word: &AtomicU64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHW reads and writes no architectural state (no register, no flag, no
    // memory value) and never faults, whatever the address; x86-64 CPUs without the feature
    // execute it as a NOP. `word` is a live reference anyway.
    unsafe {
        std::arch::asm!(
            "prefetchw [{0}]",
            in(reg) word.as_ptr(),
            options(nostack, preserves_flags, readonly)
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = word;
}

// ---------------------------------------------------------------------------------------------
// Shared mapping

/// Types that may be viewed in place inside a shared mapping.
///
/// # Safety
///
/// An implementor must be `#[repr(C)]` and made only of atomics (and arrays of atomics), so
/// that every bit pattern is a valid value, all mutation goes through `&self` (interior
/// mutability), and concurrent access from other threads or processes is never a data race.
pub(crate) unsafe trait SharedPod: Sync {}

// SAFETY: `#[repr(C, align(64))]`, fields are only AtomicU64/AtomicU32/AtomicI32 (see
// mmap/layout.rs, whose const asserts pin the size and alignment).
unsafe impl SharedPod for SegmentHeader {}
// SAFETY: as above: `#[repr(C, align(64))]`, atomics and arrays of atomics only.
unsafe impl SharedPod for RingHeader {}
// SAFETY: as above: `#[repr(C, align(64))]`, AtomicU32s and an array of them only (see
// sysv/wait.rs, whose const assert pins the size).
unsafe impl SharedPod for crate::sysv::wait::WaitLine {}

/// A read-write `MAP_SHARED` mapping of a file, exposed only as typed views of atomics.
#[derive(Debug)]
pub(crate) struct SharedMap {
    map: memmap2::MmapRaw,
}

impl SharedMap {
    /// Maps the first `len` bytes of `file` (which must be at least that long).
    pub(crate) fn map(file: &File, len: usize) -> io::Result<Self> {
        let map = memmap2::MmapOptions::new().len(len).map_raw(file)?;
        Ok(Self { map })
    }

    fn check<T>(&self, offset: usize, bytes: usize) -> Option<*const T> {
        let end = offset.checked_add(bytes)?;
        let ptr = self.map.as_ptr().wrapping_add(offset);
        (end <= self.map.len() && (ptr as usize) % align_of::<T>() == 0).then_some(ptr.cast())
    }

    /// A `T` at `offset`, or `None` when it would not fit or be misaligned.
    pub(crate) fn view<T: SharedPod>(&self, offset: usize) -> Option<&T> {
        let ptr = self.check::<T>(offset, size_of::<T>())?;
        // SAFETY: `check` proved that `ptr..ptr+size_of::<T>()` lies inside the mapping and is
        // aligned for T; the mapping lives as long as `&self`; `T: SharedPod` is valid for any
        // bit pattern and only mutated through atomics, so a shared reference is sound even
        // while other processes write the same bytes.
        Some(unsafe { &*ptr })
    }

    /// [`SharedMap::view`] of an offset it accepted before, without checking it again.
    ///
    /// # Safety
    ///
    /// `self.view::<T>(offset)` returned `Some` (on this very map).
    pub(crate) unsafe fn view_unchecked<T: SharedPod>(&self, offset: usize) -> &T {
        // SAFETY: the caller's contract: `view` found `offset..offset + size_of::<T>()` inside
        // this mapping and aligned for T, and a mapping never moves or shrinks; the rest of
        // `view`'s argument holds unchanged.
        unsafe { &*self.map.as_ptr().wrapping_add(offset).cast::<T>() }
    }

    /// [`SharedMap::words`] of a range it accepted before, without checking it again.
    ///
    /// # Safety
    ///
    /// `self.words(offset, count)` returned `Some` (on this very map).
    pub(crate) unsafe fn words_unchecked(&self, offset: usize, count: usize) -> &[AtomicU64] {
        // SAFETY: the caller's contract: `words` found the range inside this mapping and
        // 8-byte aligned, and a mapping never moves or shrinks; the rest as in `words`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().wrapping_add(offset).cast(), count) }
    }

    /// `count` atomic words at `offset` (8-byte aligned), or `None` when out of bounds.
    pub(crate) fn words(&self, offset: usize, count: usize) -> Option<&[AtomicU64]> {
        let ptr = self.check::<AtomicU64>(offset, count.checked_mul(8)?)?;
        // SAFETY: bounds and alignment checked by `check`; AtomicU64 accepts any bit pattern
        // and is only accessed atomically; the slice borrows `self`, which keeps the mapping.
        Some(unsafe { std::slice::from_raw_parts(ptr, count) })
    }
}

/// Copies `src` into the bytes of `words`, from the first, with `memcpy` (wide loads and
/// stores, or `rep movsb`) instead of one atomic store per word.
///
/// # Safety
///
/// No other thread or process may read or write those bytes until the caller publishes them
/// with a release store: a plain copy racing another access would be a data race. The mmap
/// ring guarantees it: a producer owns a slot from its reservation to its publication.
///
/// # Panics
///
/// If `src` is longer than `words`.
pub(crate) unsafe fn copy_to_shared(words: &[AtomicU64], src: &[u8]) {
    assert!(
        src.len() <= words.len() * 8,
        "copy_to_shared: {} bytes",
        src.len()
    );
    let dst = words.as_ptr().cast::<u8>().cast_mut();
    // SAFETY: `dst..dst+src.len()` lies inside `words` (asserted), which are `UnsafeCell`s
    // (so writing through a pointer from a shared borrow is allowed) in a mapping that `words`
    // keeps alive; `src` is a separate local buffer (no overlap); the caller rules out
    // concurrent access.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
}

/// Copies the first bytes of `words` into `dst` with `memcpy`: the reading side of
/// [`copy_to_shared`].
///
/// # Safety
///
/// No other thread or process may write those bytes during the copy: the caller acquired
/// their publication and hands them back (release) only afterwards. The mmap ring guarantees
/// it: a consumer owns a published slot until it moves `head` past it.
///
/// # Panics
///
/// If `dst` is longer than `words`.
pub(crate) unsafe fn copy_from_shared(words: &[AtomicU64], dst: &mut [u8]) {
    assert!(
        dst.len() <= words.len() * 8,
        "copy_from_shared: {} bytes",
        dst.len()
    );
    let src = words.as_ptr().cast::<u8>();
    // SAFETY: `src..src+dst.len()` lies inside `words` (asserted), live as long as `words`;
    // `dst` is an exclusive local buffer (no overlap); the caller rules out concurrent writes.
    unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
}

// ---------------------------------------------------------------------------------------------
// System V message queues

thread_local! {
    /// `struct msgbuf { long mtype; char mtext[]; }` as words, reused so that sending or
    /// receiving allocates only when a thread sees a larger message than before.
    static MSG_BUF: RefCell<Vec<libc::c_long>> = const { RefCell::new(Vec::new()) };
}

const WORD: usize = size_of::<libc::c_long>();

fn ok_or_errno(rc: libc::c_int) -> Result<libc::c_int, Errno> {
    if rc == -1 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

/// `msgget(key, flags)`.
pub(crate) fn msg_get(key: i32, flags: i32) -> Result<i32, Errno> {
    // SAFETY: plain integer arguments, no memory is passed.
    ok_or_errno(unsafe { libc::msgget(key, flags) })
}

/// `msgsnd` of `payload` with type `mtype`; `IPC_NOWAIT` when `nowait`.
pub(crate) fn msg_send(id: i32, mtype: i64, payload: &[u8], nowait: bool) -> Result<(), Errno> {
    MSG_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        let words = 1 + payload.len().div_ceil(WORD);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        buf[0] = mtype;
        for (word, chunk) in buf[1..].iter_mut().zip(payload.chunks(WORD)) {
            let mut bytes = [0u8; WORD];
            bytes[..chunk.len()].copy_from_slice(chunk);
            *word = libc::c_long::from_ne_bytes(bytes);
        }
        let flags = if nowait { libc::IPC_NOWAIT } else { 0 };
        // SAFETY: `buf` starts with the `long mtype` followed by at least `payload.len()`
        // bytes of text (it holds `words` words); msgsnd only reads that range.
        let rc = unsafe { libc::msgsnd(id, buf.as_ptr().cast(), payload.len(), flags) };
        ok_or_errno(rc).map(drop)
    })
}

/// `msgrcv` of the first message of type `mtype` into `out` (without `MSG_NOERROR`, so a
/// message longer than `out` stays queued and `E2BIG` is returned). Returns its length.
pub(crate) fn msg_recv(id: i32, mtype: i64, out: &mut [u8], nowait: bool) -> Result<usize, Errno> {
    MSG_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        let words = 1 + out.len().div_ceil(WORD);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        let flags = if nowait { libc::IPC_NOWAIT } else { 0 };
        // SAFETY: `buf` has room for the `long mtype` plus `out.len()` bytes of text, which
        // is the most msgrcv writes when given `msgsz = out.len()`.
        let rc = unsafe { libc::msgrcv(id, buf.as_mut_ptr().cast(), out.len(), mtype, flags) };
        let len = usize::try_from(rc).map_err(|_| Errno::last())?;
        for (chunk, word) in out[..len].chunks_mut(WORD).zip(&buf[1..]) {
            chunk.copy_from_slice(&word.to_ne_bytes()[..chunk.len()]);
        }
        Ok(len)
    })
}

/// The queue's `IPC_STAT` record.
fn msg_stat(id: i32) -> Result<libc::msqid_ds, Errno> {
    let mut ds = MaybeUninit::<libc::msqid_ds>::zeroed();
    // SAFETY: `ds` is writable storage of the right type; IPC_STAT fills it.
    ok_or_errno(unsafe { libc::msgctl(id, libc::IPC_STAT, ds.as_mut_ptr()) })?;
    // SAFETY: zero-initialised, then filled by a successful IPC_STAT; all fields are
    // integers, for which any bit pattern is valid.
    Ok(unsafe { ds.assume_init() })
}

/// How many messages wait in queue `id` (`msg_qnum`).
pub(crate) fn msg_queued(id: i32) -> Result<u64, Errno> {
    msg_stat(id).map(|ds| ds.msg_qnum)
}

/// The queue's byte limit (`msg_qbytes`), and sets it to `qbytes` when that is smaller.
pub(crate) fn msg_limit_bytes(id: i32, qbytes: Option<u64>) -> Result<u64, Errno> {
    let mut ds = msg_stat(id)?;
    match qbytes {
        Some(want) if want < ds.msg_qbytes => {
            ds.msg_qbytes = want;
            // SAFETY: `ds` is a valid msqid_ds from IPC_STAT with one field changed; IPC_SET
            // only reads it.
            ok_or_errno(unsafe { libc::msgctl(id, libc::IPC_SET, &mut ds) })?;
            Ok(want)
        }
        _ => Ok(ds.msg_qbytes),
    }
}

/// Gives queue `id` to `uid`:`gid` (`IPC_SET`; its mode stays 0600, so that user may use
/// it; the creator may still remove it).
pub(crate) fn msg_set_owner(id: i32, uid: u32, gid: u32) -> Result<(), Errno> {
    let mut ds = msg_stat(id)?;
    (ds.msg_perm.uid, ds.msg_perm.gid) = (uid, gid);
    // SAFETY: a valid msqid_ds from IPC_STAT with the owner changed; IPC_SET only reads it.
    ok_or_errno(unsafe { libc::msgctl(id, libc::IPC_SET, &mut ds) }).map(drop)
}

/// `msgctl(id, IPC_RMID)`.
pub(crate) fn msg_remove(id: i32) -> Result<(), Errno> {
    // SAFETY: IPC_RMID ignores the buffer argument, so null is allowed.
    ok_or_errno(unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

// ---------------------------------------------------------------------------------------------
// System V semaphores

/// `semget(key, nsems, flags)`.
pub(crate) fn sem_get(key: i32, nsems: i32, flags: i32) -> Result<i32, Errno> {
    // SAFETY: plain integer arguments, no memory is passed.
    ok_or_errno(unsafe { libc::semget(key, nsems, flags) })
}

/// One `semtimedop` on semaphore `num`: `op` < 0 waits, > 0 posts, 0 waits for zero.
/// `timeout: None` with `IPC_NOWAIT` in `flags` never blocks.
pub(crate) fn sem_op(
    id: i32,
    num: u16,
    op: i16,
    flags: i16,
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    let mut sop = libc::sembuf {
        sem_num: num,
        sem_op: op,
        sem_flg: flags,
    };
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `sop` is one valid sembuf (nsops = 1) and `ts_ptr` is null or points to a
    // timespec on this stack frame; both outlive the call. (libc has no `semtimedop`
    // binding, hence the raw syscall.)
    let rc = unsafe { libc::syscall(libc::SYS_semtimedop, id, &mut sop, 1usize, ts_ptr) };
    if rc == -1 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The pid of the last process that operated on semaphore `num` (`GETPID`).
pub(crate) fn sem_last_pid(id: i32, num: u16) -> Result<i32, Errno> {
    // SAFETY: GETPID takes no fourth argument and writes no memory.
    ok_or_errno(unsafe { libc::semctl(id, libc::c_int::from(num), libc::GETPID) })
}

/// Gives semaphore set `id` to `uid`:`gid` (`IPC_SET`, as [`msg_set_owner`]).
pub(crate) fn sem_set_owner(id: i32, uid: u32, gid: u32) -> Result<(), Errno> {
    let mut ds = MaybeUninit::<libc::semid_ds>::zeroed();
    // SAFETY: IPC_STAT writes one semid_ds through the `union semun` pointer we pass.
    ok_or_errno(unsafe { libc::semctl(id, 0, libc::IPC_STAT, ds.as_mut_ptr()) })?;
    // SAFETY: zero-initialised, then filled by a successful IPC_STAT; integers only.
    let mut ds = unsafe { ds.assume_init() };
    (ds.sem_perm.uid, ds.sem_perm.gid) = (uid, gid);
    // SAFETY: IPC_SET reads the semid_ds (from IPC_STAT, owner changed) the pointer names.
    ok_or_errno(unsafe { libc::semctl(id, 0, libc::IPC_SET, &mut ds as *mut libc::semid_ds) })
        .map(drop)
}

/// `semctl(id, 0, IPC_RMID)`.
pub(crate) fn sem_remove(id: i32) -> Result<(), Errno> {
    // SAFETY: IPC_RMID takes no fourth argument and writes no memory.
    ok_or_errno(unsafe { libc::semctl(id, 0, libc::IPC_RMID) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_cache_matches_getpid() {
        assert_eq!(current_pid(), nix::unistd::getpid().as_raw());
        assert_eq!(current_pid(), std::process::id() as i32);
    }

    #[test]
    fn liveness_of_self_and_of_nobody() {
        assert!(process_alive(current_pid()));
        assert!(process_alive(0), "unknown counts as alive");
        // pid_max is at most 2^22 on Linux, so this pid cannot exist.
        assert!(!process_alive(i32::MAX - 1));
    }

    #[test]
    fn futex_wait_times_out_and_refuses_stale_value() {
        let word = AtomicU32::new(7);
        assert_eq!(
            futex_wait(&word, 8, Duration::from_millis(1)),
            Err(Errno::EAGAIN)
        );
        assert_eq!(
            futex_wait(&word, 7, Duration::from_millis(5)),
            Err(Errno::ETIMEDOUT)
        );
        futex_wake(&word, 1);
    }
}
