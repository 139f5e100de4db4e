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
