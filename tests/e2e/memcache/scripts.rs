//! Byte sequences sent to memcached and zeus alike. Each runs on a fresh connection, in
//! order, so the two servers go through the same states.

fn k(n: usize) -> String {
    "k".repeat(n)
}

/// Scripts whose reply depends on how memcached batches reads (a `get` with a key over 250
/// bytes drops the replies queued in the same batch): only sent whole.
pub fn batch_sensitive(s: &[u8]) -> bool {
    s.windows(251).any(|w| w.iter().all(|b| *b == b'k'))
}

/// The classic text protocol, errors included.
pub fn all() -> Vec<Vec<u8>> {
    let k250 = k(250);
    let k251 = k(251);
    let v: Vec<String> = vec![
        // storage commands and their replies
        "set a 0 0 1\r\nx\r\nget a\r\n".into(),
        "set a 5 0 3\r\nabc\r\nadd a 0 0 1\r\nx\r\nadd b 1 0 1\r\ny\r\nget a b\r\n".into(),
        "replace zz 0 0 1\r\nx\r\nreplace a 9 0 2\r\nxy\r\ngets a\r\n".into(),
        "append a 0 0 2\r\n12\r\nprepend a 0 0 2\r\n00\r\nappend nope 0 0 1\r\nx\r\nget a\r\n".into(),
        "set c 0 0 1\r\n1\r\ncas c 0 0 1 999999\r\n2\r\ncas q 0 0 1 1\r\n2\r\ncas c 0 0 1\r\nget c\r\n".into(),
        "set f 4294967295 0 1\r\nx\r\nset g 4294967297 0 1\r\nx\r\nget f g\r\n".into(),
        "set e 0 -1 1\r\nx\r\nget e\r\nset e2 0 100 1\r\nx\r\nget e2\r\n".into(),
        "set abs 0 1 1\r\nx\r\nset abs2 0 2592001 1\r\nx\r\nget abs2\r\n".into(),
        "set z 0 0 0\r\n\r\nget z\r\n".into(),
        // noreply everywhere it applies, errors silenced too
        "set n1 0 0 1 noreply\r\nx\r\nadd n1 0 0 1 noreply\r\ny\r\nget n1\r\n".into(),
        "set a 0 0 1 noreply\r\nxyz\r\n".into(),
        format!("set {k251} 0 0 1 noreply\r\nx\r\n"),
        "incr n1 1 noreply\r\ndelete n1 noreply\r\nget n1\r\ntouch a 1 noreply\r\n".into(),
        "verbosity 1 noreply\r\nflush_all noreply\r\nget a\r\n".into(),
        // bad data, bad lines, unknown commands
        "set a 0 0 1\r\nabc\r\nget a\r\n".into(),
        "set x 0 0 -1\r\nset x 0 0 abc\r\nset x 0 0\r\nset x 0 0 1 2 3\r\nset x y 0 1\r\n".into(),
        "\r\n\n \r\nGET a\r\nfoo\r\nx\r\nmq\r\nsets a\r\ngetx a\r\nget\r\n".into(),
        format!("set {k251} 0 0 1\r\nx\r\n"),
        format!("set {k250} 0 0 1\r\nx\r\nget {k250}\r\n"),
        format!("touch {k251} 1\r\nincr {k251} 1\r\ndelete {k251}\r\n"),
        format!("get {k251}\r\n"),
        format!("set a 0 0 1\r\nx\r\nget a {k251}\r\n"),
        "get a\tb\r\nset t\x01 0 0 1\r\nx\r\nget t\x01\r\n".into(),
        // incr / decr
        "set n 0 0 2\r\n10\r\ndecr n 1\r\nget n\r\nincr n 18446744073709551615\r\nincr n 2\r\ndecr n 100\r\n".into(),
        "set a 0 0 1\r\nx\r\nincr a 1\r\nincr a x\r\nincr a -1\r\nincr q 1\r\ndecr q 1\r\nincr a 1 2\r\n".into(),
        "set m 0 0 3\r\n 12\r\nincr m 1\r\nset m 0 0 2\r\n-1\r\nincr m 1\r\nset m 0 0 22\r\n1234567890123456789012\r\nincr m 1\r\n".into(),
        "set w 3 0 1\r\n9\r\nincr w 1\r\ngets w\r\nincr w\r\n".into(),
        // delete / touch / gat
        "set d 0 0 1\r\nx\r\ndelete d 0\r\ndelete d 1\r\ndelete d\r\ndelete d x y\r\ndelete\r\ndelete d 0 noreply x\r\n".into(),
        "set t 0 0 1\r\nx\r\ntouch t 10\r\ntouch q 10\r\ntouch t x\r\ntouch t\r\n".into(),
        "set t 0 0 1\r\nx\r\ngat 10\r\ngat x t\r\ngat 100 t q\r\ngats 0 t\r\ngat -1 t\r\nget t\r\n".into(),
        // flush, verbosity, version, misc
        "set a 0 0 1\r\nx\r\nflush_all x\r\nflush_all 0 x\r\nget a\r\nflush_all 0\r\nflush_all 0 noreply\r\n".into(),
        "flush_all 0\r\nset a 0 0 1\r\nx\r\nget a\r\n".into(),
        "verbosity\r\nverbosity 1\r\nverbosity x\r\nversion\r\nversion x\r\n".into(),
        "shutdown\r\nstats nosuch\r\nstats reset\r\n".into(),
        "set q 0 0 1\r\nx\r\nquit\r\nget q\r\n".into(),
        // many commands in one packet
        (0..50).map(|i| format!("set p{i} {i} 0 {}\r\n{}\r\n", i % 7, "v".repeat(i % 7))).collect::<String>()
            + &format!("get {}\r\n", (0..50).map(|i| format!("p{i}")).collect::<Vec<_>>().join(" ")),
    ];
    v.into_iter().map(String::into_bytes).collect()
}

/// Large values around `item_size_max` and deep pipelines.
pub fn large() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // memcached -I 1m: key "big", flags 0 → at most 1048514 bytes; flags ≠ 0 → 1048510.
    let sizes = [
        (0, 100_000usize),
        (1, 1_000_000),
        (0, 1_048_514),
        (0, 1_048_515),
    ];
    let sizes = sizes
        .into_iter()
        .chain([(1, 1_048_510), (1, 1_048_511), (0, 2_000_000)]);
    for (flags, n) in sizes {
        let mut s = format!("set big {flags} 0 {n}\r\n").into_bytes();
        s.extend(std::iter::repeat_n(b'b', n));
        s.extend_from_slice(b"\r\nget big\r\n");
        out.push(s);
    }
    let mut deep = Vec::new();
    for i in 0..2000 {
        deep.extend_from_slice(format!("set deep{i} 0 0 5\r\nvalue\r\nget deep{i}\r\n").as_bytes());
    }
    out.push(deep);
    out
}
