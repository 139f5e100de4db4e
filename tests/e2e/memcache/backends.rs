//! The other backends against the same differential scripts: `filesystem` (one file per
//! item, process MPM with 2 workers) and `memory` (private memory, thread MPM); and the
//! configurations they refuse (exit code 2, a message naming the key and saying why).

use super::harness::{exchange, free_port, Memcached, Zeus};
use super::{compare, meta_scripts, scripts};
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
