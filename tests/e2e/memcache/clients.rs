//! Real memcached clients against zeus under every MPM: pymemcache (one server, and a
//! `HashClient` spreading keys over two zeus instances) and libmemcached-tools. Each is
//! skipped with a message when the client is not installed.

use std::path::Path;
use std::process::Command;

use super::harness::Zeus;

/// Tests `$f(mpm)` under each MPM, one test per MPM.
macro_rules! per_mpm {
    ($f:ident: $($name:ident => $mpm:literal),+ $(,)?) => {
        $(#[test] fn $name() { $f($mpm) })+
    };
}

per_mpm!(pymemcache: pymemcache_process => "process", pymemcache_thread => "thread",
    pymemcache_hybrid => "hybrid");
per_mpm!(libmemcached: libmemcached_tools_process => "process",
    libmemcached_tools_thread => "thread", libmemcached_tools_hybrid => "hybrid");

fn have_pymemcache() -> bool {
    let ok = Path::new("/usr/bin/python3").exists()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import pymemcache"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("python3-pymemcache not installed: skipped");
    }
    ok
}

/// Runs a python script with the given arguments; it must print exactly "ok".
fn python(script: &str, args: &[String]) {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pymemcache(mpm: &str) {
    if !have_pymemcache() {
        return;
    }
    let z = Zeus::start_mpm(mpm, 2, "");
    let script = r#"
import sys
from pymemcache.client.base import Client
c = Client(("127.0.0.1", int(sys.argv[1])), connect_timeout=5, timeout=5, default_noreply=False)
c.set_many({f"k{i}": f"v{i}" for i in range(100)})
got = c.get_many([f"k{i}" for i in range(100)])
assert len(got) == 100 and got["k42"] == b"v42", got
assert c.add("k1", "x") is False
c.set("n", "10")
assert c.incr("n", 5) == 15 and c.decr("n", 20) == 0
v, cas = c.gets("k1")
assert c.cas("k1", "new", cas) is True and c.cas("k1", "newer", cas) is False
assert c.get("k1") == b"new"
assert c.delete("k1") is True and c.get("k1") is None
assert c.touch("k2", 100) is True
assert int(c.stats()[b"curr_items"]) >= 99
print("ok")
"#;
    python(script, &[z.port.to_string()]);
}

#[test]
fn pymemcache_hash_client_spreads_keys_over_two_instances() {
    if !have_pymemcache() {
        return;
    }
    let a = Zeus::start_mpm("process", 2, "");
    let b = Zeus::start_mpm("thread", 2, "");
    let script = r#"
import sys
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
ports = [int(p) for p in sys.argv[1:]]
nodes = [("127.0.0.1", p) for p in ports]
c = HashClient(nodes, connect_timeout=5, timeout=5, default_noreply=False)
keys = [f"key{i}" for i in range(500)]
for k in keys:
    assert c.set(k, k.upper()) is True, k
assert all(c.get(k) == k.upper().encode() for k in keys)
got = c.get_many(keys)
assert len(got) == 500 and got["key7"] == b"KEY7", len(got)
# Each node holds its share, and the shares add up to every key.
items = [int(Client(n, timeout=5).stats()[b"curr_items"]) for n in nodes]
assert sum(items) == 500 and min(items) > 50, items
print("ok")
"#;
    python(script, &[a.port.to_string(), b.port.to_string()]);
}

fn libmemcached(mpm: &str) {
    if !Path::new("/usr/bin/memccp").exists() {
        eprintln!("libmemcached-tools not installed: skipped");
        return;
    }
    let z = Zeus::start_mpm(mpm, 2, "");
    let servers = format!("--servers=127.0.0.1:{}", z.port);
    let dir = std::env::temp_dir().join(format!("zeus-mc-tools-{}", z.port));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.txt");
    let body: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&file, &body).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&["/usr/bin/memccp", &servers, file.to_str().unwrap()]);
    let got = String::from_utf8(run(&["/usr/bin/memccat", &servers, "payload.txt"])).unwrap();
    // memccat ends its output with a newline of its own.
    assert!(
        got.trim_end() == body.trim_end(),
        "memccat returned {} bytes, stored {}",
        got.len(),
        body.len()
    );
    run(&["/usr/bin/memcrm", &servers, "payload.txt"]);
    let gone = Command::new("/usr/bin/memccat")
        .args([&servers, "payload.txt"])
        .output()
        .unwrap();
    assert!(!gone.status.success() || gone.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
