//! Static files: MIME, validators and 304, ranges (206 / 416), index files and redirects,
//! blocked types, dotfiles, and every traversal attempt we know, sent raw (curl would
//! normalise `..` away before sending).

use super::{start, BIG};
use crate::util::{request, HttpConn};

fn get(port: u16, path: &str, extra: &str) -> crate::util::HttpResponse {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n"),
    )
}

#[test]
fn files_validators_and_ranges() {
    let w = start("http-files", "process", "");
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

#[test]
fn blocked_hidden_and_traversal_requests_are_refused() {
    let w = start("http-traversal", "process", "");
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
