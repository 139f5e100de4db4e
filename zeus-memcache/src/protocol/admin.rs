//! `flush_all [delay] [noreply]`, `verbosity <level> [noreply]`, `version`.

use super::{Ctx, Step, Tokens};
use crate::error::MemcacheError;
use crate::number::{strtol32, strtoul32};

/// The version line; memcached's protocol level, marked as zeus.
pub const VERSION: &str = concat!("1.6.18-zeus-", env!("CARGO_PKG_VERSION"));

/// Runs `flush_all`.
pub fn flush_all(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>, cx: &Ctx<'_>) -> (Step, bool) {
    let quiet = t.noreply();
    let mut delay = 0;
    if t.n != if quiet { 3 } else { 2 } {
        match strtol32(t.get(1)) {
            Some(d) => delay = d,
            None => {
                out.extend_from_slice(MemcacheError::InvalidExptime.to_response());
                return (Step::Done(used), quiet);
            }
        }
    }
    cx.store.flush(delay, cx.now);
    out.extend_from_slice(b"OK\r\n");
    (Step::Done(used), quiet)
}

/// Runs `verbosity` (accepted and ignored: zeus logs through its own logger).
pub fn verbosity(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>) -> (Step, bool) {
    let quiet = t.noreply();
    let reply: &[u8] = match strtoul32(t.get(1)) {
        Some(_) => b"OK\r\n",
        None => MemcacheError::BadFormat.to_response(),
    };
    out.extend_from_slice(reply);
    (Step::Done(used), quiet)
}

/// Runs `version`.
pub fn version(used: usize, out: &mut Vec<u8>) -> (Step, bool) {
    out.extend_from_slice(format!("VERSION {VERSION}\r\n").as_bytes());
    (Step::Done(used), false)
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn flush_forms() {
        let st = store();
        assert_eq!(
            s(run(
                &st,
                b"set a 0 0 1\r\nx\r\nflush_all x\r\nflush_all 0 x\r\nget a\r\nflush_all noreply\r\nflush_all 0\r\n"
            )),
            "STORED\r\nCLIENT_ERROR invalid exptime argument\r\nOK\r\nEND\r\nOK\r\n"
        );
        // items stored after a flush are kept
        assert_eq!(
            s(run(&st, b"set b 0 0 1\r\ny\r\nget b\r\n")),
            "STORED\r\nVALUE b 0 1\r\ny\r\nEND\r\n"
        );
    }

    #[test]
    fn delayed_flush_keeps_items_until_then() {
        let st = store();
        assert_eq!(
            s(run(&st, b"set a 0 0 1\r\nx\r\nflush_all 100\r\nget a\r\n")),
            "STORED\r\nOK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
        );
    }

    #[test]
    fn verbosity_and_version() {
        let st = store();
        let r = s(run(
            &st,
            b"verbosity\r\nverbosity 1\r\nverbosity x\r\nverbosity 1 noreply\r\nversion x\r\n",
        ));
        assert!(
            r.starts_with("ERROR\r\nOK\r\nCLIENT_ERROR bad command line format\r\nVERSION 1.6.18"),
            "{r}"
        );
    }
}
