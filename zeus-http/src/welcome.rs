//! The bundled welcome site, compiled into the binary so `zeus start` serves it from any
//! working directory: `/` (HTML), `/zeus.css` and `/zeus.svg`.

use crate::files::method_not_allowed;
use crate::handler::Handler;
use crate::request::Request;
use crate::response::{Body, Response};

const FILES: [(&str, &str, &[u8]); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../welcome/index.html"),
    ),
    (
        "/zeus.css",
        "text/css; charset=utf-8",
        include_bytes!("../welcome/zeus.css"),
    ),
    (
        "/zeus.svg",
        "image/svg+xml",
        include_bytes!("../welcome/zeus.svg"),
    ),
];

/// Serves the welcome site.
#[derive(Debug, Clone, Copy, Default)]
pub struct Welcome;

impl Handler for Welcome {
    fn handle(&self, req: &Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return method_not_allowed(&req.method);
        }
        let path = if req.path == "/index.html" {
            "/"
        } else {
            req.path.as_str()
        };
        match FILES.iter().find(|f| f.0 == path) {
            Some((_, mime, bytes)) => {
                // The content cannot change while the binary runs: its length and a hash make a
                // stable strong validator.
                let tag = format!("\"w{:x}-{:x}\"", bytes.len(), fnv(bytes));
                if req
                    .header("if-none-match")
                    .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
                {
                    return Response::new(304).header("ETag", tag);
                }
                Response::new(200)
                    .header("Content-Type", *mime)
                    .header("ETag", tag)
                    .header("Cache-Control", "no-cache")
                    .body(Body::Static(bytes))
            }
            None => Response::text(404, "not found\n"),
        }
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3)
    })
}
