//! "No heap allocation per message": a counting global allocator watches the thread that
//! sends and receives, for every adapter, once the channel is warmed up (write ends opened
//! on first use, per-thread buffers grown to the message size). Both the ready path and the
//! waiting path (a receive that times out) are covered.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use zeus_ipc::{Channel, Mailbox, RecvError};

use crate::common::{Env, LONG};

/// Counts allocations made by threads that switched counting on.
struct Counting;

thread_local! {
    // `const` and without a destructor: using it never allocates itself.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (every allocation goes through it).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as for `dealloc`; the caller's contract for `realloc` is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count() {
    // `try_with`: during thread teardown the slots may be gone; nothing to count then.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// Allocations made by this thread while running `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

fn round_trips<C: Channel>(hub: &C, worker: &C, count: usize) {
    let msg = [0x5au8; 64];
    let mut buf = [0u8; 64];
    for _ in 0..count {
        hub.send(Mailbox::new(1), &msg, LONG).unwrap();
        assert_eq!(worker.recv(&mut buf, LONG).unwrap(), 64);
        worker.send(Mailbox::HUB, &buf, LONG).unwrap();
        assert_eq!(hub.recv(&mut buf, LONG).unwrap(), 64);
    }
}

fn no_allocation_per_message<C: Channel>(scope: &str) {
    let env = Env::new(scope);
    let hub = C::create(&env.name, &env.opts(1)).unwrap();
    let worker = hub.endpoint(Mailbox::new(1)).unwrap();
    round_trips(&hub, &worker, 10);
    let mut buf = [0u8; 64];
    let _ = hub.recv(&mut buf, Duration::from_millis(1));
    let n = allocations(|| round_trips(&hub, &worker, 1000));
    assert_eq!(n, 0, "{scope}: allocations in 1000 round trips");
    let n = allocations(|| {
        for _ in 0..5 {
            // The hub's mailbox: a worker's wait also checks the hub's liveness when it
            // lasts 100 ms (a loaded machine), which reads /proc and may allocate.
            let waited = hub.recv(&mut buf, Duration::from_millis(2));
            assert!(
                matches!(waited, Err(RecvError::Timeout { .. })),
                "{waited:?}"
            );
        }
    });
    assert_eq!(n, 0, "{scope}: allocations while waiting");
    drop((worker, hub));
    env.assert_clean();
}

#[test]
fn counting_sees_an_allocation() {
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 1);
}

#[test]
fn fifo() {
    no_allocation_per_message::<zeus_ipc::FifoChannel>("allocfifo");
}

#[test]
fn sysv() {
    no_allocation_per_message::<zeus_ipc::SysvChannel>("allocsysv");
}

#[test]
fn mmap() {
    no_allocation_per_message::<zeus_ipc::MmapChannel>("allocmmap");
}

#[test]
fn socket() {
    no_allocation_per_message::<zeus_ipc::SocketChannel>("allocsocket");
}
