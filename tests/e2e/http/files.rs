//! Static files: MIME, validators and 304, ranges (206 / 416), index files and redirects,
//! blocked types, dotfiles, and every traversal attempt we know, sent raw (curl would
//! normalise `..` away before sending).

use std::process::Command;

use super::{start, BIG};
use crate::util::{request, run_bounded, wait_for, HttpConn, CLI_TIMEOUT, SOON};

fn get(port: u16, path: &str, extra: &str) -> crate::util::HttpResponse {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"),
    )
}

fn files_validators_and_ranges(mpm: &str) {
    let w = start(&format!("http-files-{mpm}"), mpm, "");
    let p = w.port;
    let r = get(p, "/hello.txt", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("date").is_some() && r.header("server") == Some("zeus"));
    let etag = r.header("etag").expect("ETag").to_string();
    let modified = r
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();

    let nm = get(p, "/hello.txt", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((nm.status, nm.body.len()), (304, 0));
    assert_eq!(nm.header("etag"), Some(etag.as_str()));
    assert_eq!(
        get(
            p,
            "/hello.txt",
            &format!("If-Modified-Since: {modified}\r\n")
        )
        .status,
        304
    );
    assert_eq!(
        get(p, "/hello.txt", "If-None-Match: \"other\"\r\n").status,
        200
    );

    let part = get(p, "/hello.txt", "Range: bytes=0-4\r\n");
    assert_eq!((part.status, part.text().as_str()), (206, "hello"));
    assert_eq!(part.header("content-range"), Some("bytes 0-4/12"));
    assert_eq!(
        get(p, "/hello.txt", "Range: bytes=-6\r\n").text(),
        "world\n"
    );
    let big = get(p, "/big.bin", &format!("Range: bytes={}-\r\n", BIG - 10));
    assert_eq!((big.status, big.body.len()), (206, 10));
    assert_eq!(big.body[0], ((BIG - 10) % 251) as u8);
    let bad = get(p, "/hello.txt", "Range: bytes=50-60\r\n");
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range"), Some("bytes */12"));
    let stale = get(
        p,
        "/hello.txt",
        "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n",
    );
    assert_eq!((stale.status, stale.body.len()), (200, 12));

    assert_eq!(get(p, "/", "").text(), "<h1>home</h1>\n");
    let redirect = get(p, "/docs", "");
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (301, Some("/docs/"))
    );
    assert_eq!(get(p, "/docs/", "").text(), "<p>docs</p>\n");
    assert_eq!(get(p, "/sub/", "").status, 404, "no directory listing");
    assert_eq!(
        get(p, "/alias.txt", "").text(),
        "hello world\n",
        "symlink inside the root"
    );
}

fn blocked_hidden_and_traversal_requests_are_refused(mpm: &str) {
    let w = start(&format!("http-traversal-{mpm}"), mpm, "");
    let p = w.port;
    let cases: [(&str, u16); 16] = [
        ("/app.php", 403),
        ("/view.PHTML", 403),
        ("/APP.php", 404),
        ("/.env", 404),
        ("/.git/config", 404),
        ("/%2egit/config", 404),
        ("/escape.txt", 403),
        ("/../secret.txt", 400),
        ("/sub/../../secret.txt", 400),
        ("/%2e%2e/secret.txt", 400),
        ("/%2E%2E/%2e%2e/secret.txt", 400),
        ("/sub%2f..%2f..%2fsecret.txt", 400),
        ("/..%5csecret.txt", 400),
        ("/hello.txt%00.png", 400),
        ("/%", 400),
        ("/./hello.txt", 400),
    ];
    for (path, want) in cases {
        let r = get(p, path, "");
        assert_eq!(r.status, want, "{path}: {}", r.text());
        assert!(
            !r.text().contains("SECRET") && !r.text().contains("secret()"),
            "{path} leaked"
        );
    }
    // The connection survives a refused path (it is a normal response, not a protocol error).
    let mut c = HttpConn::connect(p);
    assert_eq!(c.get("/.env").status, 404);
    assert_eq!(c.get("/hello.txt").status, 200);
}

/// Checks a `multipart/byteranges` reply byte for byte in Python (http.client reads exactly
/// `Content-Length` bytes), prints `ok` or what differed.
const MULTIPART_CHECK: &str = r#"
import http.client, sys
port, path, rng, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
data = bytes(i % 251 for i in range(size)) if path == "/big.bin" else open(sys.argv[5], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", path, headers={"Range": "bytes=" + rng})
r = c.getresponse()
body = r.read()
ctype = r.getheader("Content-Type")
assert r.status == 206, r.status
assert ctype.startswith("multipart/byteranges; boundary="), ctype
b = ctype.split("boundary=")[1]
part_type = "application/octet-stream" if path == "/big.bin" else "text/plain; charset=utf-8"
want = b""
for spec in rng.split(","):
    a, z = spec.split("-")
    a, z = (size - int(z), size - 1) if a == "" else (int(a), min(int(z), size - 1) if z else size - 1)
    want += ("\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (b, part_type, a, z, size)).encode()
    want += data[a:z + 1]
want += ("\r\n--%s--\r\n" % b).encode()
assert int(r.getheader("Content-Length")) == len(body), (r.getheader("Content-Length"), len(body))
assert body == want, (body[:200], want[:200])
# The connection is still in step: a second request on it works.
c.request("GET", path, headers={"Range": "bytes=0-0"})
r = c.getresponse()
assert (r.status, r.read()) == (206, data[:1])
print("ok")
"#;

fn multiple_ranges_are_served_as_multipart_byteranges(mpm: &str) {
    let w = start(&format!("http-multirange-{mpm}"), mpm, "");
    let p = w.port;
    let hello = w.site.root().join("hello.txt");
    let cases: [(&str, &str, usize); 3] = [
        ("/hello.txt", "0-4,6-", 12),
        ("/big.bin", "0-9,20-29,-5", BIG),
        ("/big.bin", &format!("100-70000,{}-", BIG - 70_000), BIG),
    ];
    for (path, ranges, size) in cases {
        let out = run_bounded(
            Command::new("python3").args([
                "-c",
                MULTIPART_CHECK,
                &p.to_string(),
                path,
                ranges,
                &size.to_string(),
                hello.to_str().expect("utf-8 path"),
            ]),
            CLI_TIMEOUT,
        );
        assert_eq!(
            (out.code, out.stdout.trim()),
            (0, "ok"),
            "{path} {ranges}: {out}"
        );
    }
    // curl sees the same parts.
    let out = run_bounded(
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "10",
            "-r",
            "0-4,6-10",
            &format!("http://127.0.0.1:{p}/hello.txt"),
        ]),
        CLI_TIMEOUT,
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("Content-Range: bytes 0-4/12\r\n\r\nhello\r\n--")
            && out
                .stdout
                .contains("Content-Range: bytes 6-10/12\r\n\r\nworld\r\n--"),
        "{}",
        out.stdout
    );
    // A stale If-Range, an amplification attempt (ranges adding up to more than the file),
    // and too many ranges: the whole file, 200.
    let whole = |extra: &str| {
        let r = get(p, "/hello.txt", extra);
        (r.status, r.text())
    };
    let full = (200, "hello world\n".to_string());
    assert_eq!(
        whole("Range: bytes=0-1,3-4\r\nIf-Range: \"stale\"\r\n"),
        full
    );
    assert_eq!(whole("Range: bytes=0-,0-\r\n"), full);
    let many: Vec<String> = (0..101).map(|_| "0-0".to_string()).collect();
    let big = get(
        p,
        "/big.bin",
        &format!("Range: bytes={}\r\n", many.join(",")),
    );
    assert_eq!((big.status, big.body.len()), (200, BIG));
    // A current If-Range keeps the ranges; none satisfiable is 416.
    let tag = get(p, "/hello.txt", "")
        .header("etag")
        .expect("etag")
        .to_string();
    let r = get(
        p,
        "/hello.txt",
        &format!("Range: bytes=0-1,3-4\r\nIf-Range: {tag}\r\n"),
    );
    assert_eq!(r.status, 206);
    assert_eq!(
        get(p, "/hello.txt", "Range: bytes=50-60,70-\r\n").status,
        416
    );
}

/// Files are cached for `open_file_cache_valid` seconds: a changed file is served within
/// that time, and at once with the cache off.
fn changed_files_are_served_within_open_file_cache_valid(mpm: &str) {
    let w = start(
        &format!("http-filecache-{mpm}"),
        mpm,
        "open_file_cache_valid = 0.3",
    );
    let p = w.port;
    let mut c = HttpConn::connect(p);
    assert_eq!(c.get("/hello.txt").text(), "hello world\n");
    std::fs::write(w.site.root().join("hello.txt"), "changed\n").expect("rewrite");
    wait_for("the changed file", SOON, || {
        (c.get("/hello.txt").text() == "changed\n").then_some(())
    });
    let r = c.get("/hello.txt");
    assert_eq!(r.header("content-length"), Some("8"));
    // A large file is cached as a descriptor: replaced by a rename, the new one is served
    // once the entry expires.
    assert_eq!(c.get("/big.bin").body.len(), BIG);
    let next = w.site.root().join("big.next");
    std::fs::write(&next, vec![b'n'; 5000]).expect("new big file");
    std::fs::rename(&next, w.site.root().join("big.bin")).expect("replace");
    wait_for("the replaced large file", SOON, || {
        (c.get("/big.bin").body == vec![b'n'; 5000]).then_some(())
    });

    let off = start(
        &format!("http-nofilecache-{mpm}"),
        mpm,
        "open_file_cache_valid = 0",
    );
    let mut c = HttpConn::connect(off.port);
    assert_eq!(c.get("/hello.txt").text(), "hello world\n");
    std::fs::write(off.site.root().join("hello.txt"), "changed\n").expect("rewrite");
    assert_eq!(c.get("/hello.txt").text(), "changed\n");
}

per_mpm!(
    changed_files_are_served_within_open_file_cache_valid,
    files_validators_and_ranges,
    blocked_hidden_and_traversal_requests_are_refused,
    multiple_ranges_are_served_as_multipart_byteranges,
);
