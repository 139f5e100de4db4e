//! `json_api`: a small JSON API as a zeus-http `Handler`, mounted by configuration
//! (`mounts = { "/api" = "json_api" }`). Stateless on purpose: each worker process has its
//! own copy of a handler, so state kept here would differ from one request to the next.
//!
//! - `GET /api/hello?name=NAME` → `{"hello": "NAME"}`
//! - `POST /api/sum` with a JSON array of numbers → `{"sum": S, "count": N}`
//! - `GET /api/worker` → `{"pid": PID}` (which worker process answered)
//! - `GET /api/count?n=N` → N lines `{"i": I}`, a streamed body (sent chunked), N ≤ 100000
//! - anything else → a JSON 404 or 405 (with `Allow`).

use serde::Serialize;
use serde_json::{json, Value};
use zeus_http::{Body, Handler, Request, Response};

/// The example API.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonApi;

impl Handler for JsonApi {
    fn handle(&self, req: &Request) -> Response {
        let sub = req.path.strip_prefix("/api").unwrap_or(&req.path);
        let get = matches!(req.method.as_str(), "GET" | "HEAD");
        match (sub, get) {
            ("/hello", true) => {
                let name = query_param(req.query.as_deref(), "name").unwrap_or("world");
                Response::json(200, &Hello { hello: name })
            }
            ("/worker", true) => Response::json(200, &json!({ "pid": std::process::id() })),
            ("/count", true) => count(query_param(req.query.as_deref(), "n")),
            ("/sum", false) if req.method == "POST" => sum(&req.body),
            ("/hello" | "/worker" | "/count", false) => not_allowed("GET, HEAD"),
            ("/sum", _) => not_allowed("POST"),
            _ => Response::json(
                404,
                &json!({ "error": "no such endpoint", "path": req.path }),
            ),
        }
    }
}

/// The `/hello` answer, serialised as it is (no `Value` map built per request).
#[derive(Serialize)]
struct Hello<'a> {
    hello: &'a str,
}

fn sum(body: &[u8]) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => {
            let nums: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
            match nums {
                Some(n) => Response::json(
                    200,
                    &json!({ "sum": n.iter().sum::<f64>(), "count": n.len() }),
                ),
                None => Response::json(422, &json!({ "error": "every item must be a number" })),
            }
        }
        Ok(_) => Response::json(422, &json!({ "error": "expected a JSON array of numbers" })),
        Err(e) => Response::json(400, &json!({ "error": format!("invalid JSON: {e}") })),
    }
}

fn count(n: Option<&str>) -> Response {
    match n.map(str::parse::<u64>) {
        Some(Ok(n)) if n <= 100_000 => Response::new(200)
            .header("Content-Type", "application/x-ndjson")
            .body(Body::Stream(Box::new(Lines {
                next: 0,
                n,
                line: Vec::new(),
            }))),
        _ => Response::json(
            400,
            &json!({ "error": "n must be a number from 0 to 100000" }),
        ),
    }
}

/// Produces `{"i":0}\n{"i":1}\n…` as it is read: the body is never held whole in memory.
struct Lines {
    next: u64,
    n: u64,
    line: Vec<u8>,
}

impl std::io::Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            if self.line.is_empty() {
                if self.next == self.n {
                    break;
                }
                self.line = format!("{{\"i\":{}}}\n", self.next).into_bytes();
                self.next += 1;
            }
            let k = self.line.len().min(buf.len() - written);
            buf[written..written + k].copy_from_slice(&self.line[..k]);
            self.line.drain(..k);
            written += k;
        }
        Ok(written)
    }
}

fn not_allowed(allow: &'static str) -> Response {
    Response::json(405, &json!({ "error": "method not allowed" })).header("Allow", allow)
}

/// The raw value of `key` in a query string (no percent-decoding: the example keeps it short).
fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: Option<&str>, body: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.map(Into::into),
            minor_version: 1,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    fn body(r: &Response) -> Value {
        match &r.body {
            zeus_http::Body::Bytes(b) => serde_json::from_slice(b).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn endpoints() {
        let r = JsonApi.handle(&req("GET", "/api/hello", Some("name=zeus"), ""));
        assert_eq!((r.status, body(&r)), (200, json!({"hello": "zeus"})));
        let r = JsonApi.handle(&req("POST", "/api/sum", None, "[1, 2, 3.5]"));
        assert_eq!((r.status, body(&r)), (200, json!({"sum": 6.5, "count": 3})));
        assert_eq!(
            JsonApi.handle(&req("POST", "/api/sum", None, "{")).status,
            400
        );
        assert_eq!(
            JsonApi
                .handle(&req("POST", "/api/sum", None, "[\"x\"]"))
                .status,
            422
        );
        assert_eq!(
            JsonApi.handle(&req("GET", "/api/sum", None, "")).status,
            405
        );
        assert_eq!(
            JsonApi.handle(&req("GET", "/api/nope", None, "")).status,
            404
        );
    }
}
