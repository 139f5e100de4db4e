//! Busy-polling shared memory before sleeping, shared by the adapters that wait on a futex
//! (`mmap`, `sysv`): skipped where it cannot help (one CPU, or the peer on our CPU).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// This thread's CPU + 1, or 0 when unknown (`sched_getcpu` is a vDSO/rseq read, no
/// system call).
pub(crate) fn cpu_tag() -> u32 {
    nix::sched::sched_getcpu().map_or(0, |cpu| cpu as u32 + 1)
}

/// Busy-polls `attempt` for at most `budget`, unless that cannot help: a single-CPU
/// machine, or the peer (`peer_cpu`, CPU + 1 of the other side's last operation) on our own
/// CPU, where spinning only delays it. `me` is our CPU + 1; `pauses` spin-loop hints
/// separate two attempts. `None` when it never succeeded.
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
    if budget.is_zero() || !multi || (peer_cpu != 0 && peer_cpu == me) {
        return None;
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
