//! `stats` (general), `stats settings`, `stats reset`. Names and order follow memcached's;
//! figures are store-wide (every worker shares the counters in the segment header). Other
//! sub-commands (items, slabs, sizes, conns, detail) are not provided and answer `ERROR`,
//! as memcached answers an unknown one.

use std::fmt::Write as _;

use super::admin::VERSION;
use super::{Ctx, Step, Tokens};
use crate::store::Stat;

/// Runs `stats`.
pub fn run(t: &Tokens<'_>, used: usize, out: &mut Vec<u8>, cx: &Ctx<'_>) -> (Step, bool) {
    let mut s = String::new();
    match (t.n, t.get(1)) {
        (2, _) => general(cx, &mut s),
        (_, b"reset") => {
            cx.store.reset_stats();
            out.extend_from_slice(b"RESET\r\n");
            return (Step::Done(used), false);
        }
        (_, b"settings") => settings(cx, &mut s),
        _ => {
            out.extend_from_slice(b"ERROR\r\n");
            return (Step::Done(used), false);
        }
    }
    s.push_str("END\r\n");
    out.extend_from_slice(s.as_bytes());
    (Step::Done(used), false)
}

fn line(s: &mut String, name: &str, v: impl std::fmt::Display) {
    let _ = write!(s, "STAT {name} {v}\r\n");
}

fn general(cx: &Ctx<'_>, s: &mut String) {
    let st = cx.store;
    line(s, "pid", std::process::id());
    line(s, "uptime", cx.now.saturating_sub(st.started()));
    line(s, "time", cx.now);
    line(s, "version", VERSION);
    line(s, "pointer_size", usize::BITS);
    line(s, "max_connections", cx.info.max_connections);
    for stat in Stat::ALL {
        line(s, stat.name(), st.stat(stat));
    }
    let (items, bytes) = st.usage();
    line(s, "limit_maxbytes", cx.info.memory_limit);
    line(s, "bytes", bytes);
    line(s, "curr_items", items);
}

fn settings(cx: &Ctx<'_>, s: &mut String) {
    line(s, "maxbytes", cx.info.memory_limit);
    line(s, "maxconns", cx.info.max_connections);
    line(s, "evictions", if cx.info.evictions { "on" } else { "off" });
    line(s, "item_size_max", cx.info.item_size_max);
    line(s, "idle_timeout", cx.info.idle_timeout);
    line(s, "cas_enabled", "yes");
    line(s, "flush_enabled", "yes");
}

#[cfg(test)]
mod tests {
    use crate::protocol::testing::*;

    #[test]
    fn general_counts_and_reset() {
        let st = store();
        let r = s(run(&st, b"set a 0 0 1\r\nx\r\nget a b\r\nstats\r\n"));
        assert!(r.contains("STAT get_hits 1\r\n"), "{r}");
        assert!(r.contains("STAT get_misses 1\r\n"));
        assert!(r.contains("STAT curr_items 1\r\n"));
        assert!(r.ends_with("END\r\n"));
        let r = s(run(&st, b"stats reset\r\nstats\r\nstats items\r\n"));
        assert!(
            r.starts_with("RESET\r\n") && r.contains("STAT get_hits 0\r\n"),
            "{r}"
        );
        assert!(r.ends_with("END\r\nERROR\r\n"));
    }
}
