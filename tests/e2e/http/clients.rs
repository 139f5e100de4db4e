//! Real clients: curl (keep-alive reuse, HEAD, conditional and range requests, a large file
//! sent with sendfile), Python's `http.client`, and what they leave behind: the status page
//! and the access log.

use std::process::Command;

use super::{start, BIG};
use crate::util::{request, run_bounded, wait_for, CLI_TIMEOUT, SOON};

fn curl(args: &[&str]) -> crate::util::CliOutput {
    let out = run_bounded(
        Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args),
        CLI_TIMEOUT,
    );
    assert_eq!(out.code, 0, "curl {args:?}\n{out}");
    out
}

fn curl_reuses_connections_and_fetches_ranges_and_large_files(mpm: &str) {
    let w = start(&format!("http-curl-{mpm}"), mpm, "");
    let base = format!("http://127.0.0.1:{}", w.port);
    let both = curl(&[
        "-v",
        &format!("{base}/hello.txt"),
        &format!("{base}/sub/plain.txt"),
    ]);
    assert_eq!(both.stdout, "hello world\nplain\n");
    assert!(
        both.stderr.contains("Re-using existing connection")
            || both.stderr.contains("Reusing existing"),
        "curl did not reuse the connection:\n{}",
        both.stderr
    );

    let head = curl(&["-I", &format!("{base}/hello.txt")]);
    assert!(
        head.stdout.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        head.stdout
    );
    assert!(
        head.stdout.contains("Content-Length: 12\r\n"),
        "{}",
        head.stdout
    );

    let code =
        |args: &[&str]| curl(&[&["-o", "/dev/null", "-w", "%{http_code}"], args].concat()).stdout;
    let etag = head
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .expect("ETag")
        .to_string();
    assert_eq!(
        code(&[
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("{base}/hello.txt")
        ]),
        "304"
    );
    assert_eq!(code(&["-r", "2-5", &format!("{base}/hello.txt")]), "206");
    assert_eq!(code(&["-r", "900-", &format!("{base}/hello.txt")]), "416");
    assert_eq!(
        curl(&["-r", "0-4", &format!("{base}/hello.txt")]).stdout,
        "hello"
    );

    let dest = w.site.root().parent().expect("site dir").join("big.copy");
    curl(&[
        "-o",
        dest.to_str().expect("utf-8 path"),
        &format!("{base}/big.bin"),
    ]);
    let copy = std::fs::read(&dest).expect("downloaded file");
    assert_eq!(
        copy,
        std::fs::read(w.site.root().join("big.bin")).expect("original")
    );
    assert_eq!(copy.len(), BIG);
}

fn python_http_client_keeps_one_connection_for_several_requests(mpm: &str) {
    let w = start(&format!("http-python-{mpm}"), mpm, "");
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=10)
out = []
for path in ["/hello.txt", "/nope", "/hello.txt"]:
    c.request("GET", path)
    r = c.getresponse()
    out.append("%d %s" % (r.status, r.read().decode().strip()))
    sock = c.sock
c.request("HEAD", "/big.bin")
r = c.getresponse()
r.read()
out.append("%d %s %s" % (r.status, r.getheader("Content-Length"), c.sock is sock))
print("|".join(out))
"#,
        port = w.port
    );
    let out = run_bounded(Command::new("python3").args(["-c", &script]), CLI_TIMEOUT);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout.trim(),
        format!("200 hello world|404 not found|200 hello world|200 {BIG} True")
    );
}

fn status_page_formats_and_access_log(mpm: &str) {
    let w = start(&format!("http-status-{mpm}"), mpm, "");
    let p = w.port;
    let r = request(p, "GET /hello.txt?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\nUser-Agent: e2e-test\r\n\r\n");
    assert_eq!(r.status, 200);
    let html = request(p, "GET /server-status HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        html.text().contains("http-equiv=\"refresh\""),
        "{}",
        html.text()
    );
    let json = request(p, "GET /server-status?json HTTP/1.1\r\nHost: t\r\n\r\n");
    let v: serde_json::Value = serde_json::from_slice(&json.body).expect("JSON");
    assert_eq!(
        (v["service"].as_str(), v["mpm"].as_str()),
        (Some("web"), Some(mpm))
    );
    let metrics = request(p, "GET /server-status?metrics HTTP/1.1\r\nHost: t\r\n\r\n").text();
    assert!(
        metrics.contains("# TYPE zeus_tasks_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("zeus_workers{service=\"web\",state=\"WAITING\"}"),
        "{metrics}"
    );
    let log = wait_for("the access log line", SOON, || {
        let text = std::fs::read_to_string(w.site.access_log()).unwrap_or_default();
        text.contains("/server-status?metrics").then_some(text)
    });
    let line = log.lines().next().expect("a line");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("] \"GET /hello.txt?x=1 HTTP/1.1\" 200 12 \"http://r/\" \"e2e-test\""),
        "{line}"
    );
}

fn logger_adapter_zeus_sends_access_lines_through_the_zeus_log(mpm: &str) {
    let w = start(
        &format!("http-zeuslog-{mpm}"),
        mpm,
        "access_log = \"\"\nlogger_adapter = \"zeus\"\nmax_head_bytes = 8192",
    );
    let long_agent = "a".repeat(2000);
    let r = request(
        w.port,
        &format!("GET /hello.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: {long_agent}\r\n\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        request(w.port, "GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n").status,
        400
    );
    w.zeus.wait_log(&format!(
        "\"GET /hello.txt HTTP/1.1\" 200 12 \"-\" \"{long_agent}\""
    ));
    w.zeus.wait_log("\"GET /%zz HTTP/1.1\" 400 ");
    let log = w.zeus.log();
    let line = log
        .lines()
        .find(|l| l.contains("GET /hello.txt"))
        .expect("the line");
    // An info event of zeus's log, from a worker (its span), written by the scheduler.
    assert!(line.contains("INFO") && line.contains("worker{"), "{line}");
    assert!(!std::path::Path::new(&w.site.access_log()).exists());
}

per_mpm!(
    curl_reuses_connections_and_fetches_ranges_and_large_files,
    python_http_client_keeps_one_connection_for_several_requests,
    status_page_formats_and_access_log,
    logger_adapter_zeus_sends_access_lines_through_the_zeus_log,
);
