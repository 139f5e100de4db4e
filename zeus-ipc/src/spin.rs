//! Waiting a little before sleeping. [`spin`]: busy-polling shared memory, for the adapters
//! that wait on a futex (`mmap`, `sysv`), skipped where it cannot help (one CPU, or the peer
//! on our CPU), where one `sched_yield` takes its place, which lets a peer that is runnable
//! on our CPU produce what we wait for before we sleep. [`yield_spin`]: for the `fifo`
//! adapter, which cannot know where its peer runs, attempts separated by `sched_yield`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// This thread's CPU + 1, or 0 when unknown (`sched_getcpu` is a vDSO/rseq read, no
/// system call).
#[inline]
pub(crate) fn cpu_tag() -> u32 {
    crate::sys::current_cpu().map_or(0, |cpu| cpu + 1)
}

/// Busy-polls `attempt` for at most `budget` (`pauses` spin-loop hints between two
/// attempts). `peer_cpu` is CPU + 1 of the other side's last operation (0: unknown), `me`
/// ours. Where spinning cannot help, a single-CPU machine or the peer on our own CPU (it
/// could not run while we spin), it yields the CPU once instead and attempts once more:
/// a peer that is runnable here (just woken by our send, say) then runs first, and a round
/// trip between two processes on one CPU needs no sleep at all; with nothing else runnable
/// the yield returns at once. A zero `budget` neither spins nor yields. `None` when it
/// never succeeded.
pub(crate) fn spin<T>(
    budget: Duration,
    (peer_cpu, me): (u32, u32),
    pauses: u32,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    static MULTI_CPU: OnceLock<bool> = OnceLock::new();
    // Online CPUs of the machine, not this process's affinity (which
    // `available_parallelism` reports): two peers pinned to two CPUs should spin.
    let multi = *MULTI_CPU.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
            .map_or(true, |n| n.is_none_or(|n| n > 1))
    });
    if budget.is_zero() {
        return None;
    }
    if !multi || (peer_cpu != 0 && peer_cpu == me) {
        std::thread::yield_now();
        return attempt();
    }
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            if let Some(done) = attempt() {
                return Some(done);
            }
            for _ in 0..pauses {
                std::hint::spin_loop();
            }
        }
        if start.elapsed() >= budget {
            return None;
        }
    }
}

/// Attempts `attempt` after a `sched_yield`, again and again for at most `budget`; `None`
/// when it never succeeded (or `budget` is zero). For a waiter that cannot tell where its
/// peer runs: on another CPU the loop polls as [`spin`] does (the yield returns at once when
/// nothing else wants our CPU), on ours each yield lets the peer run first.
pub(crate) fn yield_spin<T>(budget: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    if budget.is_zero() {
        return None;
    }
    // The clock is read only once the first attempt failed (the budget counts from there).
    let mut start = None;
    loop {
        std::thread::yield_now();
        if let Some(done) = attempt() {
            return Some(done);
        }
        if start.get_or_insert_with(Instant::now).elapsed() >= budget {
            return None;
        }
    }
}
