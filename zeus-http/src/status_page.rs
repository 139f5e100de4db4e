//! The built-in status page (the role of Apache's `mod_status` and php-fpm's status page):
//! this service's scoreboard as HTML that refreshes itself, as JSON (`?json`) and in the
//! Prometheus text format (`?metrics`). Off unless `status_path` is set, and answered only to
//! loopback clients (403 otherwise), since it shows what every worker is doing.

use std::fmt::Write;

use zeus_core::scoreboard::ServiceStatus;

use crate::request::Request;
use crate::response::{Body, Response};

/// Answers the status page for `req` from `status` (`None`: no scoreboard in this runtime).
pub fn respond(req: &Request, status: Option<&ServiceStatus>) -> Response {
    if !req.peer.ip().is_loopback() {
        return Response::text(403, "the status page is only served to loopback clients\n");
    }
    if req.method != "GET" && req.method != "HEAD" {
        return crate::files::method_not_allowed(&req.method);
    }
    let Some(s) = status else {
        return Response::text(503, "no scoreboard available\n");
    };
    let q = req.query.as_deref().unwrap_or("");
    let has = |k: &str| {
        q.split('&')
            .any(|p| p == k || p.starts_with(&format!("{k}=")))
    };
    let resp = if has("json") {
        Response::json(200, &serde_json::to_value(s).unwrap_or_default())
    } else if has("metrics") {
        Response::new(200)
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Body::Bytes(metrics(s).into_bytes()))
    } else {
        Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(Body::Bytes(html(s).into_bytes()))
    };
    resp.header("Cache-Control", "no-store")
}

/// Prometheus text exposition format 0.0.4.
pub fn metrics(s: &ServiceStatus) -> String {
    let svc = escape_label(&s.service);
    let mut o = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, v: String| {
        let _ = writeln!(
            o,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{service=\"{svc}\"}} {v}"
        );
    };
    gauge(
        "zeus_uptime_seconds",
        "Seconds since the scheduler started.",
        "gauge",
        format!("{:.3}", s.uptime_secs),
    );
    gauge(
        "zeus_tasks_total",
        "Tasks (HTTP requests) done by all workers.",
        "counter",
        s.tasks_done.to_string(),
    );
    gauge(
        "zeus_tasks_per_second",
        "Recent task rate.",
        "gauge",
        format!("{:.3}", s.tasks_per_sec),
    );
    gauge(
        "zeus_workers_spawned_total",
        "Workers started so far.",
        "counter",
        s.workers_spawned.to_string(),
    );
    gauge(
        "zeus_workers_max",
        "Configured max_processes.",
        "gauge",
        s.limits.max.to_string(),
    );
    let _ = writeln!(
        o,
        "# HELP zeus_workers Workers by state.\n# TYPE zeus_workers gauge"
    );
    for (state, n) in &s.workers_by_state {
        let _ = writeln!(
            o,
            "zeus_workers{{service=\"{svc}\",state=\"{}\"}} {n}",
            state.as_str()
        );
    }
    o
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML page, refreshed by the browser every 5 seconds.
pub fn html(s: &ServiceStatus) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>zeus status: {name}</title>\
         <link rel=\"stylesheet\" href=\"/zeus.css\"></head><body><main>\
         <h1>zeus status: {name}</h1><p>MPM <b>{mpm}</b>, discipline <b>{disc}</b>, up {up:.0} s, \
         {tasks} tasks ({rate:.1}/s), {spawned} workers spawned, {total} now (max {max}).</p>\
         <table><tr><th>id</th><th>pid</th><th>state</th><th>tasks</th><th>age s</th>\
         <th>idle s</th><th>doing</th></tr>",
        name = esc(&s.service),
        mpm = esc(&s.mpm),
        disc = esc(&s.discipline),
        up = s.uptime_secs,
        tasks = s.tasks_done,
        rate = s.tasks_per_sec,
        spawned = s.workers_spawned,
        total = s.workers_total,
        max = s.limits.max,
    );
    for w in &s.workers {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td></tr>",
            w.id,
            w.pid,
            w.state.as_str(),
            w.tasks,
            w.age_secs,
            w.idle_secs,
            esc(&w.doing)
        );
    }
    o.push_str("</table><p>Also as <a href=\"?json\">JSON</a> and <a href=\"?metrics\">Prometheus metrics</a>.</p></main></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ServiceStatus {
        serde_json::from_value(serde_json::json!({
            "service": "web\"x", "mpm": "process", "discipline": "lru", "scheduler_pid": 1,
            "limits": {"start": 2, "max": 4, "min_spare": 1, "max_spare": 2, "max_tasks": 0},
            "uptime_secs": 1.5, "workers_by_state": {"WAITING": 2}, "workers_total": 2,
            "tasks_done": 7, "tasks_per_sec": 0.5, "workers_spawned": 2, "stopping": false,
            "workers": [{"id": 1, "pid": 10, "tid": 10, "state": "WAITING", "tasks": 7,
                         "age_secs": 1.0, "idle_secs": 0.5, "doing": "GET /<script>"}]
        }))
        .unwrap()
    }

    fn req(query: Option<&str>, peer: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/server-status".into(),
            query: query.map(Into::into),
            minor_version: 1,
            headers: Vec::new(),
            body: Vec::new(),
            peer: peer.parse().unwrap(),
        }
    }

    #[test]
    fn metrics_are_prometheus_text_with_escaped_labels() {
        let m = metrics(&sample());
        assert!(
            m.contains(
                "# TYPE zeus_tasks_total counter\nzeus_tasks_total{service=\"web\\\"x\"} 7\n"
            ),
            "{m}"
        );
        assert!(
            m.contains("zeus_workers{service=\"web\\\"x\",state=\"WAITING\"} 2\n"),
            "{m}"
        );
    }

    #[test]
    fn html_escapes_and_only_loopback_is_served() {
        let h = html(&sample());
        assert!(h.contains("GET /&lt;script&gt;") && !h.contains("<script>"));
        assert_eq!(
            respond(&req(None, "10.0.0.1:5"), Some(&sample())).status,
            403
        );
        assert_eq!(
            respond(&req(Some("json"), "[::1]:5"), Some(&sample())).status,
            200
        );
        assert_eq!(respond(&req(None, "127.0.0.1:5"), None).status, 503);
    }
}
