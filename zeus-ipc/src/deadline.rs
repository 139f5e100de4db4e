//! Bounded waiting shared by the adapters: a deadline cut into slices of at most
//! [`LIVENESS_PERIOD`], so that a waiter checks its peer's liveness at that rate, and a
//! yield-then-sleep backoff for the one wait the kernel cannot time out (a full SysV queue).
//!
//! Invariant: no adapter blocks in the kernel for longer than one slice.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How often a waiting endpoint checks that its peer is still alive; the bound on how late a
/// peer's death is noticed (plus one system call).
pub const LIVENESS_PERIOD: Duration = Duration::from_millis(100);

/// A wait that started at the first attempt that found nothing to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    /// `None`: the caller asked not to wait at all.
    end: Option<Instant>,
    last_check: Instant,
}

impl Deadline {
    /// A deadline `timeout` from now; `Duration::ZERO` means "do not wait".
    pub(crate) fn new(timeout: Duration) -> Self {
        let start = Instant::now();
        let end = (!timeout.is_zero()).then(|| {
            start
                .checked_add(timeout)
                .unwrap_or_else(|| start + Duration::from_secs(365 * 24 * 3600))
        });
        Self {
            start,
            end,
            last_check: start,
        }
    }

    /// A deadline `timeout` from a start `already` ago (a wait that spun that long before
    /// it read the clock).
    pub(crate) fn started_before(timeout: Duration, already: Duration) -> Self {
        let mut d = Self::new(timeout);
        if let (Some(start), Some(end)) = (d.start.checked_sub(already), d.end) {
            d.start = start;
            d.end = end.checked_sub(already).or(Some(end));
        }
        d
    }

    /// Whether the caller allowed waiting at all.
    pub(crate) fn waits(&self) -> bool {
        self.end.is_some()
    }

    /// Time since the wait began.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The next wait: `min(time left, LIVENESS_PERIOD)`, or `None` once the deadline passed.
    pub(crate) fn slice(&self) -> Option<Duration> {
        let left = self.end?.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then(|| left.min(LIVENESS_PERIOD))
    }

    /// True at most once per [`LIVENESS_PERIOD`] of waiting: time to check the peer.
    pub(crate) fn liveness_due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last_check) >= LIVENESS_PERIOD {
            self.last_check = now;
            true
        } else {
            false
        }
    }
}

/// A [`Deadline`] that reads the clock only once a wait outlasts its first nap: a wait
/// that ends in its first nap (most do: the peer answers) costs no clock reading, which on
/// this VM is ~40 ns each, a tenth of a sleeping round trip's overhead over the raw futex
/// ring. A timeout still counts from the first nap, and is never honoured early:
///
/// - a timeout no longer than the first nap gets an ordinary [`Deadline`] at once;
/// - after a first nap that timed out, the wait began at least `first` ago, and the
///   deadline counts from then (late by the kernel's timer slack at most);
/// - after a first nap that ended early without the awaited event (a spurious wake-up, a
///   signal, an event another thread took), the elapsed time is unknown and the deadline
///   counts from now: late by at most `first`, once per call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FirstNap {
    timeout: Duration,
    first: Duration,
    deadline: Option<Deadline>,
}

impl FirstNap {
    /// A wait of `timeout` (not zero) whose first nap is `first`.
    pub(crate) fn new(timeout: Duration, first: Duration) -> Self {
        Self {
            timeout,
            first,
            deadline: (timeout <= first).then(|| Deadline::new(timeout)),
        }
    }

    /// The next wait: `first` before the clock was read, then [`Deadline::slice`].
    pub(crate) fn slice(&self) -> Option<Duration> {
        match &self.deadline {
            Some(d) => d.slice(),
            None => Some(self.first),
        }
    }

    /// The deadline, after a nap (`timed_out`: it ran its full length) that did not end the
    /// wait.
    pub(crate) fn after_nap(&mut self, timed_out: bool) -> &mut Deadline {
        let timeout = self.timeout;
        let already = if timed_out {
            self.first
        } else {
            Duration::ZERO
        };
        self.deadline
            .get_or_insert_with(|| Deadline::started_before(timeout, already))
    }
}

/// Waits until `fd` is ready for `events` or `slice` passed (rounded up to whole
/// milliseconds, so a short slice does not turn into a busy loop). `EINTR` counts as ready:
/// the caller re-checks anyway.
pub(crate) fn wait_fd(fd: impl AsFd, events: PollFlags, slice: Duration) -> Result<(), Errno> {
    let ms = slice.as_micros().div_ceil(1000).clamp(1, i32::MAX as u128);
    let timeout = PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(fd.as_fd(), events)];
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Polling backoff: a few `sched_yield`s (cheap when the peer is about to make room), then
/// sleeps doubling from 50 µs to 1 ms.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    round: u32,
}

impl Backoff {
    const YIELDS: u32 = 16;

    /// Pauses once, never longer than `limit`.
    pub(crate) fn pause(&mut self, limit: Duration) {
        if self.round < Self::YIELDS {
            std::thread::yield_now();
        } else {
            let exp = (self.round - Self::YIELDS).min(5);
            let nap = Duration::from_micros(50 << exp).min(Duration::from_millis(1));
            std::thread::sleep(nap.min(limit));
        }
        self.round = self.round.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_timeout_never_waits() {
        let d = Deadline::new(Duration::ZERO);
        assert!(!d.waits());
        assert_eq!(d.slice(), None);
    }

    #[test]
    fn slices_are_capped_by_liveness_period() {
        let d = Deadline::new(Duration::from_secs(60));
        assert!(d.slice().unwrap() <= LIVENESS_PERIOD);
        let d = Deadline::new(Duration::MAX);
        assert!(d.waits() && d.slice().is_some());
    }

    #[test]
    fn a_wait_that_spun_counts_the_spin() {
        let d = Deadline::started_before(Duration::from_millis(50), Duration::from_millis(20));
        assert!(d.waits());
        assert!(d.elapsed() >= Duration::from_millis(20));
        assert!(d.slice().unwrap() <= Duration::from_millis(30));
    }

    #[test]
    fn first_nap_reads_no_clock_and_counts_it_once_timed_out() {
        let first = Duration::from_millis(5);
        let mut w = FirstNap::new(Duration::from_millis(60), first);
        assert!(w.deadline.is_none(), "no clock before the first nap");
        assert_eq!(w.slice(), Some(first));
        let d = *w.after_nap(true);
        assert!(d.elapsed() >= first, "the timed-out nap counts");
        let left = d.slice().unwrap();
        assert!(left <= Duration::from_millis(55), "{left:?}");
        // Later naps do not move the start again.
        assert_eq!(w.after_nap(true).start, d.start);
        // A nap that ended early counts from now: never early.
        let mut w = FirstNap::new(Duration::from_millis(60), first);
        assert!(w.after_nap(false).slice().unwrap() > Duration::from_millis(55));
        // A timeout within the first nap reads the clock at once.
        let w = FirstNap::new(Duration::from_millis(2), first);
        assert!(w.deadline.is_some() && w.slice().unwrap() <= Duration::from_millis(2));
    }

    #[test]
    fn expires() {
        let d = Deadline::new(Duration::from_millis(2));
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(d.slice(), None);
        assert!(d.elapsed() >= Duration::from_millis(2));
    }
}
