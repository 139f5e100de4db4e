//! Meta-command scripts (`mg ms md ma me mn`), sent to memcached and zeus alike. Each script
//! first puts its keys in a known state. `<STEP>` splits a script into exchanges on one
//! connection; `$CAS` in a step is replaced by the last `c<unique>` the server returned, so
//! CAS flows compare real uniques (see `harness::exchange`).

fn k(n: usize) -> String {
    "k".repeat(n)
}

/// Scripts covering every supported flag, quiet mode, flag order, errors, base64 keys,
/// invalidation and win tokens, autovivify.
pub fn all() -> Vec<Vec<u8>> {
    let k251 = k(251);
    let opaque32 = format!("O{}", "9".repeat(31));
    let opaque33 = format!("O{}", "9".repeat(32));
    let flags17: String = "s v f t c h l k q u O1 T0 N0 R0 P1 L1 I"
        .split(' ')
        .map(|f| format!(" {f}"))
        .collect();
    let v: Vec<String> = vec![
        // mg: hits, the reply flags, quiet
        "ms m1 3 T0 F7\r\nabc\r\nmg m1\r\nmg m1 v\r\nmg m1 s v f t\r\nmg m1 k O123 q\r\nmg m1 h l\r\nmg m1 c s\r\nmg m1 f k v q s\r\n".into(),
        "md m2 q\r\nmg m2\r\nmg m2 v k O9\r\nmg m2 q v\r\nmg m2 q k O1\r\nmg m2 s t\r\nmg m2 v q k\r\nmg m2 h u\r\n".into(),
        "ms m2 0\r\n\r\nmg m2 v s\r\nmg m2 q\r\nmg m2 q v\r\nmd m2 q\r\nmg m2 q v k\r\n".into(),
        // flag order: T acts where it stands
        "ms m3 1 T100\r\nx\r\nmg m3 t T30\r\nmg m3 T60 t\r\nmg m3 t\r\nmg m3 T0 t\r\nmg m3 t v\r\nmg m3 T-1\r\nmg m3 v\r\n".into(),
        "ms m3b 1 T100\r\nx\r\nmg m3b s T30 t c0\r\nmg m3b t\r\n".into(),
        // autovivify and win tokens
        "md m5 q\r\nmg m5 N30 s t v\r\nmg m5 N30 s t v\r\nmg m5 v\r\nmg m5 t\r\nms m5 1 T30\r\nx\r\nmg m5 v\r\n".into(),
        "md m5b q\r\nmg m5b s N30 t\r\nmg m5b t N60 q\r\nmd m5b q\r\nmg m5b t N60 q k\r\nmg m5b k q\r\n".into(),
        "md m5c q\r\nmg m5c N0 v\r\nmg m5c N-1 v\r\nmg m5c v\r\n".into(),
        // recache
        "ms m6 1 T10\r\nx\r\nmg m6 R30 v\r\nmg m6 R30\r\nmg m6 R5 t\r\nms m6 1 T0\r\nx\r\nmg m6 R30\r\nms m6 1 T100\r\nx\r\nmg m6 R5\r\nmg m6 R101 t\r\n".into(),
        // invalidation: md I, ms I
        "ms m7 2 T100\r\nhi\r\nmd m7 I T30\r\nmg m7 t v\r\nmg m7 v\r\nmd m7 I q\r\nmg m7 s\r\nmg m7 s\r\nmd m7 q\r\nmg m7\r\n".into(),
        "ms m7b 2\r\nhi\r\nmd m7b I\r\nmg m7b t\r\nmd m7b I T-1\r\nmg m7b\r\nmd m7b\r\n".into(),
        "ms m8 1 T100\r\nx\r\nms m8 1 C1 I T5\r\ny\r\nmg m8 t v\r\nmg m8 v\r\nms m8 1 C1\r\nz\r\nms m8 1 C1 I MS\r\nq\r\nmg m8 v\r\nms m8 1 C1 I ME\r\nw\r\nms m8 1 I\r\nw\r\nmg m8 v\r\n".into(),
        "md m8b q\r\nms m8b 1 C1 I\r\nx\r\nms m8b 1 I MR C1\r\nx\r\nmg m8b\r\n".into(),
        // base64 keys
        "ms Zm9v 1 b\r\nx\r\nmg foo k v\r\nmg Zm9v b k v\r\nmg Zm9v b\r\nme Zm9v b\r\nmd Zm9v b k q\r\nmg foo\r\nmg Zm9v b k\r\n".into(),
        "mg !!! b\r\nmg Zm9 b\r\nms Zm9 1 b\r\nx\r\nmg Zg== b k v\r\nmg Zm9v!! b k\r\nmg Zg==Zm9v b k\r\nmd Zg== b k\r\nma YQ== b\r\nme !!!! b\r\nmg Z=== b\r\n".into(),
        "ma Y250 b N0 J5 v k\r\nma Y250 b v k O1\r\nmg cnt b v\r\nmd Y250 b\r\n".into(),
        // opaque
        format!("mg m10 {opaque32}\r\nmg m10 {opaque33}\r\nmg m10 O\r\nms m10 1 {opaque33}\r\nx\r\nmd m10 {opaque33}\r\nma m10 {opaque33}\r\nms m10 1 {opaque32} k\r\nx\r\nmg m10 {opaque33} v\r\nmg m10 v {opaque32}\r\n"),
        // errors
        "mg\r\nmg m11 x\r\nmg m11 v v\r\nmg m11 Tx\r\nmg m11 T\r\nmg m11 N\r\nmg m11 R1x\r\nmg m11 E5\r\nmg m11 Fx\r\nmg m11 Cx\r\nmg m11 Tx Cx\r\n".into(),
        "mg m11 Jx\r\nmg m11 Dx Jx\r\nmg m11 MSS\r\nmg m11 Tx x\r\nmg m11 x Tx\r\nmg m11 \u{e9}\r\nmg m11 v \u{7f}\r\nmg m11 P L\r\nmg m11 Ma\r\n".into(),
        "ms m11\r\nms m11 1 S1\r\nx\r\nms m11 -1\r\nms m11 x\r\nms m11 1 Fx\r\nx\r\nms m11 1 MX\r\nx\r\nms m11 1 MSS\r\nx\r\nms m11 2\r\nxyz\r\nms m11 1 E1\r\nx\r\n".into(),
        "ms m11 1 q\r\nabc\r\nms m11 1 q O1\r\nabc\r\nms m11 1 s\r\nx\r\nms m11 1 v\r\nx\r\nms m11 1 T1x\r\nx\r\nms m11 1 MX Tx\r\nx\r\nms m11 2147483646 Tx\r\nms m11 4 q\r\nab\r\n\r\n".into(),
        "md\r\nmd m11 x\r\nmd m11 v v\r\nmd m11 Tx\r\nmd m11 E1\r\nma\r\nma m11 Dx\r\nma m11 Jx\r\nma m11 MX\r\nma m11 Mxx\r\nme\r\nmz\r\nmgx m11\r\n".into(),
        format!("mg {k251} v\r\nms {k251} 1\r\nx\r\nmd {k251}\r\nma {k251}\r\nme {k251}\r\nmg {k251} b\r\n"),
        format!("ms {} 1 T0\r\nx\r\nmg {} v k\r\nme {}\r\n", k(250), k(250), k(250)),
        // flag count limits
        format!("mg m12{flags17}\r\nmg m12{flags17} O2\r\nms m12 1{flags17}\r\nx\r\nmd m12{flags17}\r\nmd m12{flags17} O2\r\nma m12{flags17}\r\nma m12{flags17} O2\r\n"),
        // ms modes, client flags, reply flags
        "md m13 q\r\nms m13 1 ME\r\na\r\nms m13 1 ME\r\nb\r\nms m13 1 MA\r\nc\r\nms m13 1 MP\r\nd\r\nms m13 1 MR\r\ne\r\nmg m13 v\r\n".into(),
        "md m13x q\r\nms m13x 1 MR\r\nx\r\nms m13x 1 MA\r\nx\r\nms m13x 1 MP k O2\r\nx\r\nms m13 1 MS T0 F3 k O1\r\nz\r\nmg m13 v f\r\nms m13 1 F4294967296\r\nz\r\nmg m13 f\r\n".into(),
        "ms m13 2 MA\r\nyy\r\nms m13 2 MP F9 T9\r\nxx\r\nmg m13 v f t\r\nms m13 1 Ms\r\nx\r\nms m13 1 Ma\r\nx\r\n".into(),
        "ms m13 1 q k O5\r\nx\r\nms m13 1 ME q k O5 c\r\nx\r\nms m13x 1 MR q c\r\nx\r\nmg m13 v\r\n".into(),
        // ms CAS: mismatch, missing, zero
        "md m14 q\r\nms m14 1 C999999999\r\nx\r\nms m14 1\r\nx\r\nms m14 1 C999999999 k\r\ny\r\nms m14 1 C0\r\nz\r\nms m14 1 ME C5\r\nz\r\nms m14 1 MA C99999999\r\nz\r\nms m14 1 MP C99999999 q\r\nz\r\nmg m14 v\r\n".into(),
        "md m14b q\r\nms m14b 1 ME C5\r\nz\r\nmg m14b v\r\nms m14b 1 MR C5\r\nz\r\n".into(),
        // md
        "ms m15 1\r\nx\r\nmd m15 k O5\r\nmd m15 k O5\r\nmd m15 q\r\nms m15 1\r\nx\r\nmd m15 C1\r\nmd m15 q C1\r\nmg m15 v\r\nmd m15 T30\r\nmg m15\r\n".into(),
        // ma
        "md m16 q\r\nma m16\r\nma m16 q\r\nma m16 N0 J41 v\r\nma m16 v\r\nma m16 q\r\nmg m16 v\r\nma m16 MD D100 v\r\nma m16 M+ D5 v t\r\nma m16 M- v\r\nma m16 MI D18446744073709551615 v\r\nma m16 v\r\nma m16 N0 q\r\nma m16 k O7\r\n".into(),
        "md m16b q\r\nma m16b N0 q\r\nma m16b q N0\r\nmg m16b v\r\nmd m16b q\r\nma m16b t N30 J7 v\r\nma m16b N30 t\r\nmd m16b q\r\nma m16b N30 t\r\n".into(),
        "ms m16c 2\r\n10\r\nma m16c T30 t v\r\nma m16c t T60 v\r\nma m16c t\r\nms m16d 1\r\n9\r\nma m16d v T30 t\r\nma m16d t\r\nma m16d MD D1 v\r\nmg m16d v\r\n".into(),
        "ms m16e 1\r\nx\r\nma m16e\r\nms m16e 0\r\n\r\nma m16e\r\nma m16e C1\r\nms m16e 3\r\n 12\r\nma m16e v\r\nms m16e 2\r\n-1\r\nma m16e\r\nma m16e D-1\r\nma m16e J-1 N0\r\n".into(),
        // (no `mg v` before an `ma` on the same key in one batch: memcached then holds a
        // reference to the item and replaces it instead of updating it in place)
        "ms m16f 2 F5 T100\r\n99\r\nma m16f v\r\nma m16f MD D1000 v\r\nma m16f MD q\r\nincr m16f 1\r\nmg m16f v f t s\r\n".into(),
        // me
        "ms m17 3 T0\r\nabc\r\nme m17\r\nmg m17\r\nme m17\r\nms m17 3 F1\r\nabc\r\nme m17\r\nme nosuch\r\nme\r\nme m17 x y\r\nms m17 1 T100\r\nx\r\nme m17\r\n".into(),
        format!("ms m17b 1000 T-1\r\n{}\r\nme m17b\r\nms m17b 1000\r\n{}\r\nme m17b\r\nms m17b 5000\r\n{}\r\nme m17b\r\n", "x".repeat(1000), "x".repeat(1000), "y".repeat(5000)),
        // fetched-before and last access
        "ms m18 1\r\nx\r\nmg m18 h u\r\nmg m18 h l\r\nmg m18 h\r\nms m18 1\r\nx\r\nget m18\r\nmg m18 h\r\nms m18 1\r\nx\r\ntouch m18 10\r\nmg m18 h t\r\nms m18 1\r\nx\r\ngat 20 m18\r\nmg m18 h t\r\n".into(),
        "ms m18b 1\r\nx\r\nmg m18b T30 h\r\nmg m18b h\r\nms m18b 1\r\nx\r\nmg m18b v u\r\nmg m18b h\r\nme m18b\r\nmg m18b k\r\nme m18b\r\n".into(),
        // quiet pipelines and classic commands mixed in
        "mg q1 q v\r\nmg q2 q v\r\nms q3 1 q\r\nx\r\nmg q3 q v k\r\nmd q3 q\r\nmd q3 q\r\nma q4 q\r\nget q3\r\nset q3 0 0 1\r\ny\r\nmg q3 v q\r\ndelete q3\r\n".into(),
        "set c1 5 100 2\r\nhi\r\nmg c1 v f t s\r\nms c1 3 T0\r\nbye\r\nget c1\r\nappend c1 0 0 1\r\n!\r\nmg c1 v\r\nincr c2 1\r\nma c2 N0\r\nincr c2 5\r\nmg c2 v\r\n".into(),
        "flush_all\r\nmg fl1 N30 v\r\nmg fl1 v\r\nflush_all\r\nmg fl1 v\r\nms fl1 1\r\nx\r\nflush_all 0\r\nma fl1 N0 v\r\n".into(),
        // odd values and keys
        "md m19 q\r\nmg m19 N30 O5 k v q\r\nmg m19 O6 k\r\nms !!! 1 b\r\nx\r\nmd !!! b\r\nma !!! b\r\nms IGE= 1 b\r\nx\r\nmg IGE= b k v\r\nme IGE= b\r\nmg\x20a\r\n".into(),
        "ms m19 1 T-1\r\nx\r\nmg m19 v\r\nms m19 1 T2592001\r\nx\r\nmg m19 v\r\nms m19 1 F-1\r\nx\r\nms m19 1 T9999999999\r\nx\r\nmg m19 t\r\nms m19 1 T2147483648\r\nx\r\nmg m19\r\n".into(),
        "ms m19 20\r\n18446744073709551615\r\nma m19 v\r\nmg m19 v\r\nma m19 MD D0 v\r\nma m19 D0 N0 J9 v\r\n".into(),
        format!("ms {} 1 b\r\nx\r\nmg {} b\r\n", "QUFB".repeat(63), "QUFB".repeat(63)),
        // cases from memcached's own t/metaget.t
        "mg foo m o o o o o o o o o\r\nms quiet\r\nma mc N0 C99999 v\r\nma mc N0 C99999 v\r\nms modetest 2 T120 MZ\r\ntt\r\nms toinv 1 T90 C0\r\nf\r\n".into(),
        "md mi q\r\nma mi q D1\r\nms mi 1\r\n1\r\nma mi q D1\r\nma mi v\r\nma mu N90\r\nma mu N90 v t\r\n".into(),
        "ms foo 2 T100\r\nna\r\nmg foo s\r\nmg foo s\r\nquit\r\nmg foo s\r\n".into(),
        // many meta commands in one packet
        (0..40).map(|i| format!("ms p{i} {} F{i} T0\r\n{}\r\nmg p{i} v f k O{i}\r\n", i % 5, "v".repeat(i % 5))).collect::<String>(),
    ];
    v.into_iter().map(String::into_bytes).collect()
}

/// Scripts whose later steps use a CAS unique returned by an earlier one.
pub fn cas_flows() -> Vec<Vec<u8>> {
    let v: Vec<&str> = vec![
        "ms f1 1 c\r\nx\r\n<STEP>ms f1 1 C$CAS c\r\ny\r\n<STEP>ms f1 1 C$CAS MA\r\nz\r\nmg f1 v\r\nmd f1 C$CAS\r\nmg f1 c\r\n<STEP>md f1 C$CAS q\r\nmg f1\r\n",
        "ms f2 1 T100\r\nx\r\nmg f2 c\r\n<STEP>md f2 I C$CAS T30\r\nmg f2 c\r\n<STEP>ms f2 1 C$CAS I\r\ny\r\nmg f2 v t\r\nmg f2 v\r\n",
        "ms f3 2\r\n10\r\nmg f3 c\r\n<STEP>ma f3 C$CAS v c\r\n<STEP>ma f3 C$CAS v D9 q\r\nma f3 C$CAS\r\nmg f3 v\r\n",
        "ms f4 1\r\nx\r\nmg f4 c\r\n<STEP>ms f4 1 MP C$CAS\r\np\r\nmg f4 v c\r\n<STEP>ms f4 1 MR C$CAS k\r\nr\r\nmg f4 v\r\n",
        "set f5 0 0 1\r\nx\r\nmg f5 c\r\n<STEP>cas f5 0 0 1 $CAS\r\ny\r\nmg f5 v c\r\n<STEP>ms f5 1 C$CAS I\r\nz\r\ngets f5\r\n",
    ];
    v.into_iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Values around `item_size_max` through `ms`, read back with `mg` and `me`.
pub fn large() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (flags, n) in [
        (0, 400_000usize),
        (0, 1_048_514),
        (0, 1_048_515),
        (1, 1_048_510),
        (1, 1_048_511),
        (0, 2_000_000),
    ] {
        let mut s = format!("ms big 1 F1\r\nx\r\nms big {n} T0 F{flags}\r\n").into_bytes();
        s.extend(std::iter::repeat_n(b'b', n));
        s.extend_from_slice(b"\r\nme big\r\nmg big s f\r\n");
        out.push(s);
    }
    out
}

/// `stats items`, `stats slabs`, `stats sizes` after stores in several slab classes; run on
/// fresh servers. Compare with `normalise_stats`.
pub fn stats() -> Vec<Vec<u8>> {
    let mut s = String::from("stats items\r\nstats slabs\r\nstats sizes\r\n");
    for (i, n) in [1usize, 10, 50, 100, 300, 1000, 5000, 20000]
        .iter()
        .enumerate()
    {
        s += &format!("set s{i} {i} 0 {n}\r\n{}\r\n", "v".repeat(*n));
    }
    s += "get s0 s1 s2\r\ngets s3\r\ntouch s4 100\r\ngat 100 s5\r\ndelete s6\r\n";
    s += "set n1 0 0 1\r\n5\r\nincr n1 1\r\ndecr n1 1\r\ncas n1 0 0 1 1\r\nx\r\nmg s1 v\r\nma n1\r\nmd s0\r\n";
    s += "ms m1 2 T0\r\nhi\r\nmg m1 T30\r\n";
    let stats = "stats items\r\nstats slabs\r\nstats sizes\r\n";
    let mut second = String::from("stats sizes_enable\r\nstats sizes\r\n");
    for n in [5usize, 40, 40, 700] {
        second += &format!("ms z{n} {n}\r\n{}\r\n", "z".repeat(n));
    }
    second += "stats sizes\r\nstats sizes_enable\r\nstats sizes_disable\r\nstats sizes\r\nstats sizes_disable\r\n";
    vec![
        format!("{s}{stats}").into_bytes(),
        second.into_bytes(),
        format!("delete s1\r\ndelete s2\r\n{stats}").into_bytes(),
    ]
}

/// Keeps what both servers must agree on in `stats items/slabs/sizes`: the classes listed,
/// item counts and sizes, chunk geometry, per-class command counters; the LRU, page and
/// age figures differ by design and are replaced.
pub fn normalise_stats(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let words: Vec<&str> = line.trim_end_matches("\r\n").split(' ').collect();
        if words.len() == 3 && words[0] == "STAT" {
            let name = words[1].rsplit(':').next().unwrap_or("");
            let keep = matches!(
                name,
                "number"
                    | "mem_requested"
                    | "chunk_size"
                    | "chunks_per_page"
                    | "used_chunks"
                    | "get_hits"
                    | "cmd_set"
                    | "delete_hits"
                    | "incr_hits"
                    | "decr_hits"
                    | "cas_hits"
                    | "cas_badval"
                    | "touch_hits"
                    | "active_slabs"
                    | "sizes_status"
            ) || name.bytes().all(|b| b.is_ascii_digit());
            if !keep {
                out.push_str(&format!("STAT {} <n>\r\n", words[1]));
                continue;
            }
        }
        out.push_str(line);
    }
    out
}
