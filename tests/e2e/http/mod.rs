//! The `http` service end to end: the real `zeus` serving a temp site on a free loopback
//! port, talked to with raw sockets (malformed requests), curl and Python's `http.client`.
//! Timeouts are configured small (about a second) so the slow-client tests stay short.
//!
//! The whole suite runs under each MPM (the issue: "the same suite runs under the process,
//! thread and hybrid MPMs"): each test is a `fn name(mpm: &str)`, and `per_mpm!` makes it
//! three tests, `name::process`, `name::thread` and `name::hybrid`. Only the embedded
//! default (which is the process MPM by definition) runs once.

/// Instantiates each `fn name(mpm: &str)` of the calling module as one test per MPM.
macro_rules! per_mpm {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn process() {
                    super::$name("process");
                }

                #[test]
                fn thread() {
                    super::$name("thread");
                }

                #[test]
                fn hybrid() {
                    super::$name("hybrid");
                }
            }
        )*
    };
}

mod clients;
mod files;
mod lifecycle;
mod protocol;
mod slow;

use std::path::PathBuf;

use crate::util::{free_port, request, Spec, TestDir, ZeusProcess};

/// Bytes of the large file (served with sendfile: above `sendfile_min_bytes` = 4096).
pub const BIG: usize = 300_000;

/// A document root with the files the tests ask for, and a secret next to (outside) it.
pub struct Site {
    dir: TestDir,
}

impl Site {
    pub fn new() -> Self {
        let dir = TestDir::new("site");
        let root = dir.path().join("www");
        for d in ["sub", "docs", ".git"] {
            std::fs::create_dir_all(root.join(d)).expect("site dirs");
        }
        let files: [(&str, &[u8]); 8] = [
            ("index.html", b"<h1>home</h1>\n"),
            ("hello.txt", b"hello world\n"),
            ("docs/index.html", b"<p>docs</p>\n"),
            ("app.php", b"<?php secret(); ?>\n"),
            ("view.PHTML", b"<?php secret(); ?>\n"),
            (".env", b"SECRET=1\n"),
            (".git/config", b"[core]\n"),
            ("sub/plain.txt", b"plain\n"),
        ];
        for (name, body) in files {
            std::fs::write(root.join(name), body).expect("site file");
        }
        let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), big).expect("big file");
        std::fs::write(dir.path().join("secret.txt"), "TOP SECRET\n").expect("secret");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape.txt"))
            .expect("symlink out");
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("alias.txt"))
            .expect("symlink in");
        Self { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

/// A running `web` service over a `Site`. Fields drop in order: zeus stops before the site's
/// directory goes (a worker still logging would create `access.log` in it again).
pub struct Web {
    pub port: u16,
    pub zeus: ZeusProcess,
    pub site: Site,
}

/// Starts service `web` under `mpm` with the test settings, `extra` settings lines
/// (`key = value`) replacing those of the same key.
pub fn start(tag: &str, mpm: &str, extra: &str) -> Web {
    let pool = "start_processes = 2\nmax_processes = 4\nmin_spare_processes = 1\n\
                max_spare_processes = 4\nmax_process_tasks = 0";
    start_pool(tag, mpm, pool, extra)
}

/// `start` with the pool settings `pool` (scheduler lines).
pub fn start_pool(tag: &str, mpm: &str, pool: &str, extra: &str) -> Web {
    let site = Site::new();
    let port = free_port();
    let defaults = format!(
        "listen_port = {port}\ndocument_root = \"{root}\"\nstatus_path = \"/server-status\"\n\
         access_log = \"{log}\"\nheader_timeout = 1.0\nbody_timeout = 1.0\nkeepalive_timeout = 1.5\n\
         send_timeout = 5.0\nmax_uri_bytes = 256\nmax_head_bytes = 2048\nmax_body_bytes = 1024\n\
         sendfile_min_bytes = 4096",
        root = site.root().display(),
        log = site.access_log().display(),
    );
    let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
    let replaced: Vec<String> = extra.lines().map(key).collect();
    let settings: Vec<&str> = defaults
        .lines()
        .filter(|l| !replaced.contains(&key(l)))
        .chain(extra.lines())
        .collect();
    let toml = format!(
        "[schedulers.s]\nmultiprocessing_module = \"{mpm}\"\nthreads_per_process = 2\n{pool}\n\
         [services.web]\nscheduler_name = \"s\"\nservice_adapter = \"http\"\n\
         [services.web.service_settings]\n{}\n",
        settings.join("\n")
    );
    let zeus = ZeusProcess::start(tag, Spec::config(&toml, &["web"]));
    Web { port, site, zeus }
}

#[test]
fn the_embedded_default_serves_the_welcome_site_and_the_status_page() {
    let http = free_port();
    let _z = ZeusProcess::start("http-default", Spec::default_services(free_port(), http));
    let page = request(http, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text().contains("href=\"/zeus.css\""),
        "{}",
        page.text()
    );
    let css = request(http, "GET /zeus.css HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let img = request(http, "GET /zeus.svg HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(img.header("content-type"), Some("image/svg+xml"));
    assert!(img.text().starts_with("<svg"));
    let tag = page.header("etag").expect("etag").to_string();
    let again = request(
        http,
        &format!("GET / HTTP/1.1\r\nHost: t\r\nIf-None-Match: {tag}\r\n\r\n"),
    );
    assert_eq!(again.status, 304);
    let status = request(http, "GET /server-status?json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&status.body).expect("status JSON");
    assert_eq!(v["service"], "zeus_httpd");
    assert_eq!(
        request(http, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status,
        404
    );
}
