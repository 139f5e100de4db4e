//! How a worker waits for its next epoll batch: after a batch that served clients it first
//! gives the CPU away once (`sched_yield`) and polls without sleeping; only when nothing came
//! does it sleep (for at most the stop-poll interval). An idle worker sleeps at once.
//!
//! Why: on the 2-vCPU machine the load tool shares the cores with the workers, one worker and
//! one client thread per core, each runnable most of the time, and the saturated tail is time
//! spent waiting for a CPU (for memcached too). Yielding hands the core to the client thread
//! beside the worker, which can read its replies and send the next requests before the
//! worker's next poll, which then finds a batch without being woken. A/B against the
//! previous binary in the same alternating rounds (`benches/README.md`, s11-mc): the
//! saturated p99 under `mc-load` fell from 1.8-3.6 ms to 0.7-1.8 ms on every MPM, below
//! memcached's in every round; the p50 rose (about 0.3 to 0.4 ms). zeus-http's `Loop::wait`
//! does the same for its keep-alive connections.
//!
//! Cost: one `sched_yield` and one non-blocking `epoll_wait` per served batch.

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollEvent};

/// Waits for events on `epoll` into `events`; returns how many arrived (0 on timeout).
///
/// `served`: the previous batch answered clients (not only accepts or the stop fd), so the
/// peers are likely to send more soon: yield and poll before sleeping for `sleep_ms`.
pub fn next_batch(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    served: bool,
    sleep_ms: u16,
) -> Result<usize, Errno> {
    if served {
        std::thread::yield_now();
        let n = epoll.wait(events, 0u16)?;
        if n > 0 {
            return Ok(n);
        }
    }
    epoll.wait(events, sleep_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::epoll::{EpollCreateFlags, EpollFlags};
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    fn epoll_with(s: &UnixStream) -> Epoll {
        let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
        ep.add(s, EpollEvent::new(EpollFlags::EPOLLIN, 7)).unwrap();
        ep
    }

    #[test]
    fn a_ready_connection_is_returned_at_once_whether_or_not_the_last_batch_served() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"get k\r\n").unwrap();
        let ep = epoll_with(&b);
        for served in [true, false] {
            let mut ev = [EpollEvent::empty(); 4];
            let t = Instant::now();
            assert_eq!(next_batch(&ep, &mut ev, served, 5_000).unwrap(), 1);
            assert_eq!(ev[0].data(), 7);
            assert!(
                t.elapsed() < Duration::from_secs(4),
                "slept though data was ready"
            );
        }
    }

    #[test]
    fn with_nothing_ready_a_served_worker_still_sleeps_rather_than_spins() {
        // The poll after the yield finds nothing: the worker must fall through to the
        // sleeping wait (returning 0 at once would make the event loop spin).
        let (_a, b) = UnixStream::pair().unwrap();
        let ep = epoll_with(&b);
        let mut ev = [EpollEvent::empty(); 4];
        let t = Instant::now();
        assert_eq!(next_batch(&ep, &mut ev, true, 50).unwrap(), 0);
        assert!(
            t.elapsed() >= Duration::from_millis(40),
            "returned without sleeping"
        );
    }

    #[test]
    fn data_arriving_during_the_sleep_wakes_the_worker() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let ep = epoll_with(&b);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            a.write_all(b"x").unwrap();
            a
        });
        let mut ev = [EpollEvent::empty(); 4];
        assert_eq!(next_batch(&ep, &mut ev, true, 10_000).unwrap(), 1);
        drop(writer.join().unwrap());
    }
}
