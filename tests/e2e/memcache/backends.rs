//! The other backends against the same differential scripts: `filesystem` (one file per
//! item, process MPM with 2 workers) and `memory` (private memory, thread MPM); and the
//! configurations they refuse (exit code 2, a message naming the key and saying why).

use super::harness::{exchange, free_port, Memcached, Zeus};
use super::{compare, kill_workers_under_load, meta_scripts, scripts};
use crate::util::{run_bounded, zeus_command, TestDir, CLI_TIMEOUT};

fn fs_settings(dir: &std::path::Path) -> String {
    format!(
        "backend = \"filesystem\"\ndirectory = \"{}\"",
        dir.display()
    )
}

#[test]
fn filesystem_backend_matches_memcached_and_keeps_items_across_restarts() {
    let Some(mc) = Memcached::start() else { return };
    let dir = TestDir::new("mc-fs");
    let items = dir.path().join("items");
    std::fs::create_dir(&items).unwrap();
    {
        let z = Zeus::start(2, &fs_settings(&items));
        compare(&mc, &z, &scripts::all(), 0);
        compare(&mc, &z, &meta_scripts::all(), 0);
        compare(&mc, &z, &meta_scripts::cas_flows(), 0);
        // One worker writes, the other connections (spread over both workers) read.
        assert_eq!(
            exchange(z.port, b"set kept 7 0 5\r\nhello\r\n", 0),
            b"STORED\r\n"
        );
        for _ in 0..8 {
            assert_eq!(
                exchange(z.port, b"get kept\r\n", 0),
                b"VALUE kept 7 5\r\nhello\r\nEND\r\n"
            );
        }
        // `stats items` walks the files.
        let items = String::from_utf8(exchange(z.port, b"stats items\r\n", 0)).unwrap();
        assert!(items.contains(":number "), "{items}");
    }
    let files = walk(&items);
    assert!(files.iter().any(|f| f.ends_with("/k6b657074")), "{files:?}");
    assert!(!files.iter().any(|f| f.contains("/.tmp.")), "{files:?}");
    let z = Zeus::start(2, &fs_settings(&items));
    assert_eq!(
        exchange(z.port, b"get kept\r\n", 0),
        b"VALUE kept 7 5\r\nhello\r\nEND\r\n",
        "items survive a restart"
    );
    assert_eq!(exchange(z.port, b"flush_all\r\n", 0), b"OK\r\n");
    assert!(
        !walk(&items).iter().any(|f| f.ends_with("/k6b657074")),
        "flush_all removes the files"
    );
}

#[test]
fn filesystem_read_modify_write_is_atomic_across_worker_processes() {
    let dir = TestDir::new("mc-fs-rmw");
    let z = Zeus::start(2, &fs_settings(dir.path()));
    assert_eq!(exchange(z.port, b"set n 0 0 1\r\n0\r\n", 0), b"STORED\r\n");
    assert_eq!(exchange(z.port, b"set s 0 0 0\r\n\r\n", 0), b"STORED\r\n");
    // 6 clients on their own connections (spread over both workers), 250 incr and 250
    // appends each: no update may be lost.
    let port = z.port;
    std::thread::scope(|sc| {
        for c in 0..6 {
            sc.spawn(move || {
                let mut script = Vec::new();
                for _ in 0..250 {
                    script.extend_from_slice(b"incr n 1\r\n");
                    script.extend_from_slice(format!("append s 0 0 1\r\n{c}\r\n").as_bytes());
                }
                let r = String::from_utf8(exchange(port, &script, 0)).unwrap();
                assert_eq!(r.matches("STORED\r\n").count(), 250, "{r}");
            });
        }
    });
    assert_eq!(
        exchange(z.port, b"get n\r\n", 0),
        b"VALUE n 0 4\r\n1500\r\nEND\r\n"
    );
    let s = String::from_utf8(exchange(z.port, b"get s\r\n", 0)).unwrap();
    assert!(s.starts_with("VALUE s 0 1500\r\n"), "{s}");
}

#[test]
fn filesystem_backend_survives_workers_killed_under_load() {
    let dir = TestDir::new("mc-fs-kill");
    let z = Zeus::start(2, &fs_settings(dir.path()));
    kill_workers_under_load(&z);
    drop(z);
    // A restart cleans what the killed writers left and serves every item whole.
    let z = Zeus::start(2, &fs_settings(dir.path()));
    assert!(!walk(dir.path()).iter().any(|f| f.contains("/.tmp.")));
    let r = String::from_utf8(exchange(z.port, b"get c0k1 c1k2 c2k3 after\r\n", 0)).unwrap();
    assert!(r.ends_with("VALUE after 0 2\r\nok\r\nEND\r\n"), "{r}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap().flatten() {
        if let Ok(rd) = std::fs::read_dir(sub.path()) {
            out.extend(rd.flatten().map(|f| f.path().display().to_string()));
        }
    }
    out
}

#[test]
fn memory_backend_under_the_thread_mpm_matches_memcached() {
    let Some(mc) = Memcached::start() else { return };
    let z = Zeus::start_mpm("thread", 2, "backend = \"memory\"");
    // Every worker thread sees the one private cache.
    assert_eq!(exchange(z.port, b"set k 0 0 1\r\nv\r\n", 0), b"STORED\r\n");
    for _ in 0..8 {
        assert_eq!(
            exchange(z.port, b"get k\r\n", 0),
            b"VALUE k 0 1\r\nv\r\nEND\r\n"
        );
    }
    compare(&mc, &z, &scripts::all(), 0);
    compare(&mc, &z, &meta_scripts::all(), 0);
    compare(&mc, &z, &meta_scripts::cas_flows(), 0);
}

/// Runs `zeus start` with one memcache service under `mpm` and these settings; checks it is
/// refused with code 2 and returns stderr.
fn refused(mpm: &str, settings: &str) -> String {
    let dir = TestDir::new("mc-refused");
    let cfg = format!(
        r#"[logger]
show_banner = false
[schedulers.s]
multiprocessing_module = "{mpm}"
threads_per_process = 2
start_processes = 2
max_processes = 2
min_spare_processes = 0
max_spare_processes = 2
[services.mc]
scheduler_name = "s"
service_adapter = "memcache"
[services.mc.service_settings]
listen_port = {port}
{settings}
"#,
        port = free_port()
    );
    let path = dir.write("zeus.toml", &cfg);
    let mut cmd = zeus_command(dir.path());
    cmd.arg("--run-dir")
        .arg(dir.run_dir())
        .arg("--config")
        .arg(&path)
        .arg("start");
    let out = run_bounded(&mut cmd, CLI_TIMEOUT);
    assert_eq!(out.code, 2, "must be refused: {settings}\n{out}");
    assert!(out.stderr.contains("configuration error"), "{out}");
    assert!(!dir.run_dir().join("zeus.pid").exists());
    out.stderr
}

fn assert_names(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(
            stderr.contains(p),
            "the message does not name {p:?}:\n{stderr}"
        );
    }
}

#[test]
fn backends_refuse_what_they_cannot_serve() {
    // 1 PiB: more than any test machine has; a store this size could never be filled.
    let err = refused("thread", "memory_limit = 1125899906842624");
    assert_names(
        &err,
        &[
            "services.mc.service_settings.memory_limit",
            "1125899906842624",
            "RAM and swap",
        ],
    );
    let err = refused("process", "backend = \"memory\"");
    assert_names(
        &err,
        &[
            "services.mc.service_settings.backend",
            "memory",
            "thread MPM",
            "\"process\"",
        ],
    );
    let err = refused("hybrid", "backend = \"memory\"");
    assert_names(
        &err,
        &["services.mc.service_settings.backend", "\"hybrid\""],
    );
    let err = refused("process", "backend = \"filesystem\"");
    assert_names(
        &err,
        &[
            "services.mc.service_settings.directory",
            "is required",
            "filesystem",
        ],
    );
    let dir = TestDir::new("mc-fs-bad");
    let missing = dir.path().join("missing");
    let err = refused("process", &fs_settings(&missing));
    assert_names(
        &err,
        &[
            "services.mc.service_settings.directory",
            &missing.display().to_string(),
        ],
    );
    let file = dir.write("file", "x");
    let err = refused("process", &fs_settings(&file));
    assert_names(&err, &["directory", "not a directory"]);
    // Nobody, root included, may create files in /proc.
    let err = refused("process", &fs_settings(std::path::Path::new("/proc")));
    assert_names(
        &err,
        &[
            "services.mc.service_settings.directory",
            "/proc",
            "create files",
        ],
    );
    let err = refused("process", "backend = \"disk\"");
    assert_names(&err, &["services.mc.service_settings.backend", "disk"]);
}
