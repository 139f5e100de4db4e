//! The only place in zeus-core that talks to the kernel with `unsafe`.
//!
//! Every function here is a safe wrapper: callers never see a raw pointer or an unchecked
//! precondition. Invariants kept here:
//! - `fork` refuses to run in a process with more than one thread (a forked child would
//!   inherit locks held by threads that no longer exist);
//! - shared mappings are only ever viewed as arrays of atomics, so another process writing to
//!   them concurrently is never a data race;
//! - the process title is written only inside the argument area the kernel reports (see
//!   `proctitle`), and credentials change only in the order groups → gid → uid (`creds`).

pub mod creds;
mod fork;
mod net;
pub mod proctitle;
mod shm;
mod signal;

pub use creds::CredsError;
pub use fork::{fork, Forked};
pub use net::tcp_listener;
pub use proctitle::TitleError;
pub use shm::SharedWords;
pub use signal::Signals;

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (vDSO clock read, no syscall on Linux x86-64).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch from the coarse clock: the time of the last kernel tick
/// (a few ms behind), read from the vDSO without reading the TSC. For stamps written on
/// every task (`scoreboard::Slot::set_state`), where the precise clock cost 2% of a
/// zeus-http worker's CPU on a dynamic-response load test. Falls back to `now_ms`.
pub fn now_ms_coarse() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => (t.tv_sec() as u64) * 1000 + (t.tv_nsec() as u64) / 1_000_000,
        Err(_) => now_ms(),
    }
}

/// Whether a process with this pid exists (signal 0 probe; EPERM still means it exists).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}
