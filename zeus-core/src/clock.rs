//! Wall-clock readings shared by the crates: precise (`now_ms`) and coarse (`now_ms_coarse`,
//! the last kernel tick, for stamps written per task or per response).

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
/// zeus-http worker's CPU on a dynamic-response load test, and for zeus-http's `Date`
/// header. Falls back to `now_ms`.
pub fn now_ms_coarse() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_REALTIME_COARSE) {
        Ok(t) => (t.tv_sec() as u64) * 1000 + (t.tv_nsec() as u64) / 1_000_000,
        Err(_) => now_ms(),
    }
}
