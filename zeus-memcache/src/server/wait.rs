//! How a worker waits for its next epoll batch: after a batch that served clients it first
//! gives the CPU away once (`sched_yield`) and polls without sleeping; only when nothing came
//! does it sleep (for at most the stop-poll interval). An idle worker sleeps at once.
//!
//! Why (measured on the 2-vCPU machine with the load tool on the same cores, A/B against
//! the previous binary in the same rounds, `benches/README.md`): both worker layouts run one
//! worker and one client thread per core, each runnable most of the time, and a worker that
//! goes straight back to `epoll_wait` keeps its core for whole slices while the client
//! thread beside it, holding half of the connections' replies unread, waits. Yielding hands
//! the core to that client, which reads the replies and sends the next requests, so the
//! worker's next poll finds a batch without being woken. The saturated p99 under `mc-load`
//! fell from 1.8-3.6 ms to 0.7-1.8 ms on every MPM; the p50 rose (about 0.3 to 0.4 ms).
//! The same step in zeus-http (`server.rs`, `Loop::wait`) cut its keep-alive p99 the same way.
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
