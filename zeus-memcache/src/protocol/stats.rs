//! `stats` (general), `stats settings`, `stats reset`, `stats items`, `stats slabs`,
//! `stats sizes[_enable|_disable]`. Names and order follow memcached's; figures are
//! store-wide (every worker shares the counters in the segment header).
//!
//! `items`, `slabs` and `sizes` describe memcached's slab classes (see `store::slabs`); the
//! item counts come from a walk over the store made when asked. zeus has one FIFO per shard,
//! not memcached's hot/warm/cold LRUs: every item counts as cold, and the LRU movement,
//! eviction-per-class and crawler figures are 0. `total_pages` is the pages the items need now.
//! Other sub-commands (conns, detail, cachedump) answer `ERROR`.

use std::fmt::Write as _;

use super::admin::VERSION;
use super::{Ctx, Step, Tokens};
use crate::store::slabs::{chunk_size, ClassStat, CLASSES, PAGE};
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
        (_, b"items") => items(cx, &mut s),
        (_, b"slabs") => slabs(cx, &mut s),
        (_, b"sizes") => sizes(cx, &mut s),
        (_, b"sizes_enable") => {
            // memcached answers these two without END.
            cx.store.sizes_enable();
            out.extend_from_slice(b"STAT sizes_status enabled\r\n");
            return (Step::Done(used), false);
        }
        (_, b"sizes_disable") => {
            cx.store.sizes_disable();
            out.extend_from_slice(b"STAT sizes_status disabled\r\n");
            return (Step::Done(used), false);
        }
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

fn items(cx: &Ctx<'_>, s: &mut String) {
    let st = cx.store;
    for (cls, u) in st.class_usage(cx.now).iter().enumerate() {
        if u.number == 0 {
            continue;
        }
        let hits =
            st.class_stat(ClassStat::GetHits, cls) + st.class_stat(ClassStat::TouchHits, cls);
        let mut put = |name: &str, v: u64| line(s, &format!("items:{cls}:{name}"), v);
        put("number", u.number);
        put("number_hot", 0);
        put("number_warm", 0);
        put("number_cold", u.number);
        put("age_hot", 0);
        put("age_warm", 0);
        put("age", u64::from(u.age));
        put("mem_requested", u.mem_requested);
        for name in [
            "evicted",
            "evicted_nonzero",
            "evicted_time",
            "outofmemory",
            "tailrepairs",
            "reclaimed",
            "expired_unfetched",
            "evicted_unfetched",
            "evicted_active",
            "crawler_reclaimed",
            "crawler_items_checked",
            "lrutail_reflocked",
            "moves_to_cold",
            "moves_to_warm",
            "moves_within_lru",
            "direct_reclaims",
        ] {
            put(name, 0);
        }
        put("hits_to_hot", 0);
        put("hits_to_warm", 0);
        put("hits_to_cold", hits);
        put("hits_to_temp", 0);
    }
}

fn slabs(cx: &Ctx<'_>, s: &mut String) {
    let st = cx.store;
    let usage = st.class_usage(cx.now);
    let (mut active, mut pages_total) = (0u64, 0u64);
    for (cls, u) in usage.iter().enumerate().take(CLASSES + 1).skip(1) {
        if !st.class_used(cls) {
            continue;
        }
        let size = chunk_size(cls) as u64;
        let per = PAGE as u64 / size;
        let used = u.number;
        let pages = used.div_ceil(per).max(1);
        let mut put = |name: &str, v: u64| line(s, &format!("{cls}:{name}"), v);
        put("chunk_size", size);
        put("chunks_per_page", per);
        put("total_pages", pages);
        put("total_chunks", pages * per);
        put("used_chunks", used);
        put("free_chunks", pages * per - used);
        put("free_chunks_end", 0);
        for c in ClassStat::ALL {
            put(c.name(), st.class_stat(c, cls));
        }
        active += 1;
        pages_total += pages;
    }
    line(s, "active_slabs", active);
    line(s, "total_malloced", pages_total * PAGE as u64);
}

fn sizes(cx: &Ctx<'_>, s: &mut String) {
    match cx.store.sizes() {
        None => line(s, "sizes_status", "disabled"),
        Some(hist) => {
            for (size, n) in hist {
                line(s, &size.to_string(), n);
            }
        }
    }
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
        assert!(r.ends_with("STAT items:1:hits_to_temp 0\r\nEND\r\n"), "{r}");
    }

    #[test]
    fn items_slabs_sizes() {
        let st = store();
        let mut cmd =
            b"stats sizes\r\nset a 0 0 3\r\nabc\r\nstats sizes_enable\r\nset b 1 0 300\r\n"
                .to_vec();
        cmd.extend(std::iter::repeat_n(b'x', 300));
        cmd.extend_from_slice(
            b"\r\nget a\r\nstats items\r\nstats slabs\r\nstats sizes\r\nstats sizes_disable\r\n",
        );
        let r = s(run(&st, &cmd));
        assert!(r.starts_with("STAT sizes_status disabled\r\nEND\r\nSTORED\r\nSTAT sizes_status enabled\r\nSTORED\r\n"), "{r}");
        assert!(r.contains("STAT items:1:number 1\r\n"), "{r}");
        assert!(r.contains("STAT items:1:mem_requested 63\r\n"), "{r}");
        assert!(r.contains("STAT items:7:number 1\r\n"), "{r}");
        assert!(
            r.contains("STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\n"),
            "{r}"
        );
        assert!(
            r.contains("STAT 1:get_hits 1\r\nSTAT 1:cmd_set 1\r\n"),
            "{r}"
        );
        assert!(
            r.contains("STAT active_slabs 2\r\nSTAT total_malloced 2097152\r\nEND\r\n"),
            "{r}"
        );
        assert!(
            r.ends_with("STAT 384 1\r\nEND\r\nSTAT sizes_status disabled\r\n"),
            "{r}"
        );
    }
}
