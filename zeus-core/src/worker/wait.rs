//! How a worker that multiplexes many connections waits for its next batch of events:
//! after a batch that served clients it first gives its CPU away once (`sched_yield`) and
//! polls without sleeping; only when nothing came does it sleep. An idle worker sleeps at
//! once. zeus-http and zeus-memcache wait this way; a service of your own can too.
//!
//! Why: a worker that sleeps as soon as it has answered is woken by its clients' next
//! requests, and a woken task preempts the one running on its CPU. With clients on the same
//! cores (a load tool on a 2-vCPU machine), worker and client then switch for every request
//! (33k switches/s each under `wrk`, `perf sched`), and when three tasks meet on one core,
//! the one that does not sleep keeps it until the next tick (4 ms) while the others'
//! connections wait. Yielding lets a client on this core run until it has sent all it has,
//! and the worker then finds a batch without being woken. Measured (`benches/README.md`):
//! zeus-http's 1 KiB keep-alive p99 5-7 ms → 0.7-1.4 ms; zeus-memcache's saturated p99
//! under `mc-load` 1.8-3.6 ms → 0.7-1.8 ms, at a higher median below saturation (p50 at
//! 30k requests/s about 0.12 → 0.19 ms).
//!
//! Cost: one `sched_yield` and one non-blocking `epoll_wait` per batch that served clients.
//! Count only batches of client traffic as `served`: rounds of accepts alone must not yield
//! (with `Connection: close` a worker that did not sleep was not woken by the listener's
//! `EPOLLEXCLUSIVE` queue either, and lost 30% of its requests per second).

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollEvent, EpollTimeout};

/// Waits for events on `epoll` into `events`; returns how many arrived (0 on timeout).
///
/// `served`: the previous batch answered clients, so they are likely to send more soon:
/// yield and poll before sleeping for at most `sleep`.
pub fn next_batch(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    served: bool,
    sleep: EpollTimeout,
) -> Result<usize, Errno> {
    if served {
        std::thread::yield_now();
        let n = epoll.wait(events, EpollTimeout::ZERO)?;
        if n > 0 {
            return Ok(n);
        }
    }
    epoll.wait(events, sleep)
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

    fn ms(n: u16) -> EpollTimeout {
        EpollTimeout::from(n)
    }

    #[test]
    fn a_ready_connection_is_returned_at_once_whether_or_not_the_last_batch_served() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"get k\r\n").unwrap();
        let ep = epoll_with(&b);
        for served in [true, false] {
            let mut ev = [EpollEvent::empty(); 4];
            let t = Instant::now();
            assert_eq!(next_batch(&ep, &mut ev, served, ms(5_000)).unwrap(), 1);
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
        assert_eq!(next_batch(&ep, &mut ev, true, ms(50)).unwrap(), 0);
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
        assert_eq!(next_batch(&ep, &mut ev, true, ms(10_000)).unwrap(), 1);
        drop(writer.join().unwrap());
    }
}
