//! Self-contained helpers for the memcache e2e tests: a zeus instance and a Debian memcached
//! on free loopback ports, both stopped on Drop, and a client that sends bytes and reads the
//! reply until a sentinel, with deadlines everywhere.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("{what} exited early: {st}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on {port} within 20 s");
}

fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Debian's memcached, if installed.
pub struct Memcached {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Memcached {
    /// Starts `/usr/bin/memcached -m 64` on a free port; `None` when it is not installed.
    pub fn start() -> Option<Self> {
        let bin = std::path::Path::new("/usr/bin/memcached");
        if !bin.exists() {
            eprintln!("memcached not installed: differential part skipped");
            return None;
        }
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args([
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "64",
        ]);
        if nix::unistd::geteuid().is_root() {
            cmd.args(["-u", "root"]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_port(port, &mut child, "memcached");
        Some(Self { child, port })
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// A zeus instance running one memcache service.
pub struct Zeus {
    child: Child,
    dir: PathBuf,
    /// Its port.
    pub port: u16,
}

impl Zeus {
    /// Starts `zeus start` with `workers` process workers and extra `service_settings` lines.
    pub fn start(workers: u32, settings: &str) -> Self {
        Self::start_mpm("process", workers, settings)
    }

    /// As `start`, under the given MPM (`process`, `thread`).
    pub fn start_mpm(mpm: &str, workers: u32, settings: &str) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("zeus-mc-e2e-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = format!(
            r#"run_dir = "{run}"
[logger]
show_banner = false
reporting_level = "warn"
[schedulers.s]
multiprocessing_module = "{mpm}"
start_processes = {workers}
max_processes = {workers}
min_spare_processes = 0
max_spare_processes = {workers}
max_process_tasks = 0
shutdown_timeout = 5
[services.mc]
scheduler_name = "s"
service_adapter = "memcache"
[services.mc.service_settings]
listen_port = {port}
{settings}
"#,
            run = dir.join("run").display()
        );
        let path = dir.join("zeus.toml");
        std::fs::write(&path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_zeus"))
            .arg("start")
            .arg("--config")
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_port(port, &mut child, "zeus");
        Self { child, dir, port }
    }

    /// The manager's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pids of the worker processes (grandchildren of the manager).
    pub fn workers(&self) -> Vec<i32> {
        let kids = |pid: i32| -> Vec<i32> {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        };
        kids(self.pid() as i32).into_iter().flat_map(kids).collect()
    }
}

impl Drop for Zeus {
    fn drop(&mut self) {
        stop(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `script` (in chunks of `chunk` bytes, pausing between them when > 0) followed by
/// `mn\r\n`, and returns everything read before the `MN\r\n` sentinel (or EOF). A script
/// may be split into steps by `<STEP>`: each step is sent and answered in turn on the same
/// connection, with `$CAS` replaced by the last `c<unique>` flag received so far.
pub fn exchange(port: u16, script: &[u8], chunk: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut out = Vec::new();
    let mut cas = String::from("0");
    for step in split_steps(script) {
        let step = replace(&step, b"$CAS", cas.as_bytes());
        let reply = exchange_step(&mut s, &step, chunk, script);
        if let Some(c) = last_cas(&reply) {
            cas = c;
        }
        let closed = reply.ends_with(b"<CLOSED>");
        out.extend_from_slice(&reply);
        if closed {
            break;
        }
    }
    out
}

fn split_steps(script: &[u8]) -> Vec<Vec<u8>> {
    let text = script.to_vec();
    let mut steps = Vec::new();
    let mut rest = &text[..];
    while let Some(i) = rest.windows(6).position(|w| w == b"<STEP>") {
        steps.push(rest[..i].to_vec());
        rest = &rest[i + 6..];
    }
    steps.push(rest.to_vec());
    steps
}

fn replace(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// The last ` c<digits>` meta flag, or the CAS of the last `VALUE` line.
fn last_cas(reply: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(reply);
    let mut found = None;
    for line in text.split("\r\n") {
        let words: Vec<&str> = line.split(' ').collect();
        if words[0] == "VALUE" && words.len() == 5 {
            found = Some(words[4].to_string());
        } else if is_meta_status(words[0]) {
            for w in &words[1..] {
                if let Some(d) = w.strip_prefix('c') {
                    if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) {
                        found = Some(d.to_string());
                    }
                }
            }
        }
    }
    found
}

fn exchange_step(s: &mut TcpStream, script: &[u8], chunk: usize, whole: &[u8]) -> Vec<u8> {
    if chunk == 0 {
        s.write_all(script).unwrap();
    } else {
        for part in script.chunks(chunk) {
            s.write_all(part).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = s.write_all(b"mn\r\n");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if out.ends_with(b"MN\r\n") {
            out.truncate(out.len() - 4);
            return out;
        }
        match s.read(&mut buf) {
            // EOF or reset: both mean the server closed. Which one a client sees depends on
            // whether the sentinel arrived before the close, on either server.
            Ok(0) => {
                out.extend_from_slice(b"<CLOSED>");
                return out;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                out.extend_from_slice(b"<CLOSED>");
                return out;
            }
            Err(e) => panic!(
                "port {}: reading reply to {:?} ({} bytes): {e}; got {:?}",
                s.peer_addr().map(|a| a.port()).unwrap_or(0),
                String::from_utf8_lossy(&whole[..whole.len().min(200)]),
                whole.len(),
                String::from_utf8_lossy(&out[..out.len().min(200)]),
            ),
        }
    }
    panic!("no sentinel within 10 s");
}

fn is_meta_status(w: &str) -> bool {
    matches!(w, "HD" | "VA" | "EN" | "NF" | "NS" | "EX")
}

/// A time in seconds rounded to the nearest ten (keeping its sign): both servers read their
/// clocks at slightly different moments, so a TTL of 30 may show as 29.
fn round10(n: &str) -> String {
    match n.parse::<i64>() {
        Ok(v) if v != -1 => {
            let r = (v.abs() + 5) / 10 * 10;
            (if v < 0 { -r } else { r }).to_string()
        }
        _ => n.to_string(),
    }
}

/// Normalises the flags of a meta status line: CAS uniques, and times to the nearest ten.
fn meta_line(words: &[&str]) -> String {
    let mut out = vec![words[0].to_string()];
    for w in &words[1..] {
        let (c, rest) = w.split_at(w.len().min(1));
        let digits = !rest.is_empty()
            && rest
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit());
        out.push(match c {
            "c" if digits && rest != "0" => "c<cas>".to_string(),
            "t" | "l" if digits => format!("{c}{}", round10(rest)),
            _ => w.to_string(),
        });
    }
    out.join(" ")
}

/// Normalises an `ME` line: the CAS unique, times to the nearest ten.
fn me_line(words: &[&str]) -> String {
    let mut out = Vec::new();
    for w in words {
        out.push(match w.split_once('=') {
            Some(("cas", _)) => "cas=<cas>".to_string(),
            Some((k @ ("exp" | "la"), v)) => format!("{k}={}", round10(v)),
            _ => w.to_string(),
        });
    }
    out.join(" ")
}

/// Replaces what legitimately differs: CAS uniques, the version text, and meta times
/// within a second or so.
pub fn normalise(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let words: Vec<&str> = line.trim_end_matches("\r\n").split(' ').collect();
        if words.len() == 5 && words[0] == "VALUE" && line.ends_with("\r\n") {
            out.push_str(&format!(
                "VALUE {} {} {} <cas>\r\n",
                words[1], words[2], words[3]
            ));
        } else if is_meta_status(words[0]) && line.ends_with("\r\n") {
            out.push_str(&meta_line(&words));
            out.push_str("\r\n");
        } else if words[0] == "ME" && line.ends_with("\r\n") {
            out.push_str(&me_line(&words));
            out.push_str("\r\n");
        } else if words[0] == "VERSION" && words.len() == 2 {
            out.push_str("VERSION <v>\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}
