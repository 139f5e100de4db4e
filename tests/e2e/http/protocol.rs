//! The protocol over raw sockets: every error status with the connection closed after it,
//! request smuggling refused, pipelining in order, persistence rules of 1.0 and 1.1, chunked
//! bodies and `Expect: 100-continue`.

use std::time::Duration;

use super::start;
use crate::util::{request, wait_for, HttpConn, SOON};

/// Sends `raw` on a new connection, expects `status`, then the connection closed.
fn refused(port: u16, raw: &str, status: u16) -> crate::util::HttpResponse {
    let mut c = HttpConn::connect(port);
    c.send(raw.as_bytes());
    let r = c.read(false);
    assert_eq!(r.status, status, "{raw:?} answered {}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "{raw:?}");
    c.expect_closed(SOON);
    r
}

fn errors_get_their_status_codes(mpm: &str) {
    let w = start(&format!("http-errors-{mpm}"), mpm, "");
    let p = w.port;
    refused(p, "GARBAGE\r\n\r\n", 400);
    refused(p, "GET / HTTP/1.1\r\n\r\n", 400); // no Host
    refused(p, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    // 405 is a resource's answer, not a protocol error: the connection stays usable.
    let mut c = HttpConn::connect(p);
    c.send(b"PUT /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(c.get("/hello.txt").status, 200);
    refused(p, "POST /x HTTP/1.1\r\nHost: t\r\n\r\n", 411);
    refused(
        p,
        "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
        413,
    );
    let chunk = format!("{:x}\r\n{}\r\n0\r\n\r\n", 2000, "x".repeat(2000));
    refused(
        p,
        &format!("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"),
        413,
    );
    refused(
        p,
        &format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(300)),
        414,
    );
    refused(
        p,
        &format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "v".repeat(3000)
        ),
        431,
    );
    refused(p, "BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501);
    refused(
        p,
        "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
    refused(p, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
    refused(p, "GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417);
    refused(p, "\x01\"x\r\n\r\n", 400);
    refused(p, &format!("GET /{}", "b".repeat(400)), 414);

    // Every refusal has its access log line, with the request line as received (escaped).
    let long = format!("\"GET /{} HTTP/1.1\" 414 ", "a".repeat(300));
    let partial = format!("\"GET /{}\" 414 ", "b".repeat(400));
    let want = [
        "\"GARBAGE\" 400 ",
        "\"GET / HTTP/1.1\" 400 ",
        "\"POST /x HTTP/1.1\" 411 ",
        "\"POST /x HTTP/1.1\" 413 ",
        &long,
        "\"GET / HTTP/1.1\" 431 ",
        "\"BREW /pot HTTP/1.1\" 501 ",
        "\"GET / HTTP/2.0\" 505 ",
        "\"GET / HTTP/1.1\" 417 ",
        "\"\\x01\\\"x\" 400 ",
        &partial,
    ];
    let log = wait_for("the refusals' log lines", SOON, || {
        let text = std::fs::read_to_string(w.site.access_log()).unwrap_or_default();
        want.iter().all(|w| text.contains(w)).then_some(text)
    });
    let n413 = log.lines().filter(|l| l.contains("\" 413 ")).count();
    assert_eq!(n413, 2, "a Content-Length and a chunked 413:\n{log}");
    assert!(
        log.lines().all(
            |l| l.starts_with("127.0.0.1 - - [") && l.ends_with(" \"-\" \"-\"")
                || l.contains("PUT /hello.txt")
                || l.contains("GET /hello.txt")
        ),
        "{log}"
    );
}

fn request_smuggling_is_refused(mpm: &str) {
    let w = start(&format!("http-smuggle-{mpm}"), mpm, "");
    let p = w.port;
    // CL.TE and TE.CL: both headers at once is refused, whatever the order.
    let smuggled = "GET /.env HTTP/1.1\r\nHost: t\r\n\r\n";
    refused(
        p,
        &format!("POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"),
        400,
    );
    refused(
        p,
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        400,
    );
    refused(
        p,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    );
    refused(
        p,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd",
        400,
    );
    refused(
        p,
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    );
    refused(
        p,
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

fn pipelining_persistence_chunked_and_continue(mpm: &str) {
    let w = start(&format!("http-pipeline-{mpm}"), mpm, "");
    let p = w.port;
    // Three pipelined requests in one write: answered in order on one connection.
    let mut c = HttpConn::connect(p);
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/plain.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    let bodies: Vec<String> = (0..3).map(|_| c.read(false).text()).collect();
    assert_eq!(bodies, ["hello world\n", "plain\n", "<h1>home</h1>\n"]);
    // A chunked body, then a request right behind it: the body was consumed exactly.
    c.send(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).status, 405);
    assert_eq!(c.read(false).text(), "hello world\n");
    // Expect: 100-continue: the interim answer comes before the body is sent.
    c.send(
        b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(c.read(false).status, 100);
    c.send(b"hello");
    assert_eq!(c.read(false).status, 405);
    // Connection: close is honoured.
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let last = c.read(false);
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    c.expect_closed(SOON);

    // HTTP/1.0: closed unless keep-alive is asked for.
    let mut old = HttpConn::connect(p);
    old.send(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    assert_eq!(old.read(false).status, 200);
    old.expect_closed(SOON);
    let mut ka = HttpConn::connect(p);
    ka.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(ka.read(false).header("connection"), Some("keep-alive"));
    ka.send(b"HEAD /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let head = ka.read(true);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("12"))
    );
    // Nothing follows a HEAD answer: the next response parses cleanly.
    ka.send(b"GET /sub/plain.txt HTTP/1.0\r\n\r\n");
    assert_eq!(ka.read(false).text(), "plain\n");
    ka.expect_closed(SOON);

    // A body split over several writes (the server waits for all of it).
    let mut slow = HttpConn::connect(p);
    slow.send(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nab");
    std::thread::sleep(Duration::from_millis(50));
    slow.send(b"cdef");
    assert_eq!(slow.read(false).status, 405);
    assert_eq!(
        request(p, "GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
}

per_mpm!(
    errors_get_their_status_codes,
    request_smuggling_is_refused,
    pipelining_persistence_chunked_and_continue,
);
