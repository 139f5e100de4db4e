//! Request heads: `httparse` does the syntax, this module enforces the limits and decides the
//! framing (RFC 9112 section 6): the body length, persistence and `Expect`.
//!
//! Invariants:
//! - a head is refused, never truncated: over `max_uri_bytes` → 414, over `max_head_bytes` or
//!   `max_headers` → 431;
//! - `Content-Length` together with `Transfer-Encoding`, two different lengths, or a coding
//!   other than a final `chunked` are refused (request smuggling);
//! - nothing here panics on input.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::net::SocketAddr;

use crate::error::HttpError;
use framing::{check_host, expect_continue, framing, keep_alive};

mod framing;
#[cfg(test)]
mod props;
#[cfg(test)]
mod robustness;

/// Limits on a request, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest request head, in bytes.
    pub max_head_bytes: usize,
    /// Longest request target, in bytes.
    pub max_uri_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
    /// Largest body, in bytes.
    pub max_body_bytes: u64,
}

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A request as handlers see it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, as sent (case-sensitive).
    pub method: String,
    /// Path part of the target, still percent-encoded.
    pub path: String,
    /// Query string (after `?`), if any.
    pub query: Option<String>,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header fields in order; names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (decoded from chunked, if it was).
    pub body: Vec<u8>,
    /// The client.
    pub peer: SocketAddr,
}

impl Request {
    /// The first field named `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The request target as sent (path and query).
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// A request with nothing in it yet (no allocation).
    fn empty(peer: SocketAddr) -> Self {
        Self {
            method: String::new(),
            path: String::new(),
            query: None,
            minor_version: 1,
            headers: Vec::new(),
            body: Vec::new(),
            peer,
        }
    }

    /// Overwrites every field with a parsed head's, in the strings already there (their
    /// capacity is reused; a string allocates only when it must grow).
    fn fill(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        minor_version: u8,
        fields: &[httparse::Header<'_>],
        peer: SocketAddr,
    ) {
        set(&mut self.method, method);
        set(&mut self.path, path);
        match (&mut self.query, query) {
            (Some(old), Some(q)) => set(old, q),
            (old, q) => *old = q.map(str::to_string),
        }
        self.minor_version = minor_version;
        self.headers.truncate(fields.len());
        for (i, f) in fields.iter().enumerate() {
            match self.headers.get_mut(i) {
                Some((name, value)) => {
                    set(name, f.name);
                    value.clear();
                    value.extend_from_slice(f.value);
                }
                None => self.headers.push((f.name.to_string(), f.value.to_vec())),
            }
        }
        self.body.clear();
        self.peer = peer;
    }

    /// Empties the request for `parse_head_reusing`, keeping the capacity of its strings but
    /// not of a large body (an idle connection must not hold a big upload's buffer).
    pub(crate) fn recycle(&mut self) {
        const KEEP_BODY: usize = 16 * 1024;
        if self.body.capacity() > KEEP_BODY {
            self.body = Vec::new();
        }
        self.body.clear();
    }
}

fn set(s: &mut String, v: &str) {
    s.clear();
    s.push_str(v);
}

/// A parsed head, before its body is read.
#[derive(Debug)]
pub struct Head {
    /// The request (empty body so far).
    pub request: Request,
    /// Bytes of the head in the buffer.
    pub len: usize,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection persists after this exchange.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before its body.
    pub expect_continue: bool,
}

/// Methods RFC 9110 defines; others are answered 501.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Header slots kept on the stack (`max_headers` up to this).
const STACK_HEADERS: usize = 128;

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete (and within limits).
pub fn parse_head(buf: &[u8], peer: SocketAddr, lim: &Limits) -> Result<Option<Head>, HttpError> {
    parse_head_reusing(buf, peer, lim, &mut None)
}

/// `parse_head`, writing a complete head into `spare` (taken) when there is one: a request
/// answered earlier on the same connection, whose strings keep their capacity, so that a
/// keep-alive connection parses its requests without allocating (5 allocations per request
/// with one header field otherwise: method, path, the field list, name and value).
/// `spare` is left alone while the head is incomplete.
pub(crate) fn parse_head_reusing(
    buf: &[u8],
    peer: SocketAddr,
    lim: &Limits,
    spare: &mut Option<Request>,
) -> Result<Option<Head>, HttpError> {
    // Header slots on the stack, uninitialised (httparse fills what it uses): no allocation
    // and no clearing per request; a larger `max_headers` takes them from the heap.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap;
    let fields = if lim.max_headers <= STACK_HEADERS {
        &mut stack[..lim.max_headers]
    } else {
        heap = vec![MaybeUninit::uninit(); lim.max_headers];
        &mut heap[..]
    };
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, fields) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return incomplete(buf, lim),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::HeadersTooLarge {
                limit: lim.max_headers,
            })
        }
        Err(httparse::Error::Version) if looks_like_other_version(buf) => {
            return Err(HttpError::VersionNotSupported)
        }
        Err(_) => return Err(HttpError::BadRequest("malformed request head")),
    };
    if len > lim.max_head_bytes {
        return Err(HttpError::HeadersTooLarge {
            limit: lim.max_head_bytes,
        });
    }
    let method = req.method.expect("invariant: complete head");
    let target = req.path.expect("invariant: complete head");
    let minor_version = req.version.expect("invariant: complete head");
    if target.len() > lim.max_uri_bytes {
        return Err(HttpError::UriTooLong {
            limit: lim.max_uri_bytes,
        });
    }
    if !KNOWN_METHODS.contains(&method) {
        return Err(HttpError::NotImplemented(format!("method {method}")));
    }
    let target = origin_form(target)?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*target, None),
    };
    let mut request = spare.take().unwrap_or_else(|| Request::empty(peer));
    request.fill(method, path, query, minor_version, req.headers, peer);
    check_host(&request)?;
    let framing = framing(&request, lim)?;
    let keep_alive = keep_alive(&request);
    let expect_continue = expect_continue(&request)?;
    Ok(Some(Head {
        request,
        len,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// The origin form of a target: `/path?query` as is, and the absolute form a server must
/// also accept (RFC 9112 3.2.2), `http://host/path?query`, reduced to it. The asterisk form
/// (`OPTIONS *`) and the authority form (`CONNECT`) are refused: this is not a proxy.
fn origin_form(target: &str) -> Result<Cow<'_, str>, HttpError> {
    if target.starts_with('/') {
        return Ok(Cow::Borrowed(target));
    }
    for scheme in ["http://", "https://"] {
        let Some(head) = target.get(..scheme.len()) else {
            continue;
        };
        if head.eq_ignore_ascii_case(scheme) {
            let rest = &target[scheme.len()..];
            return Ok(match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => Cow::Borrowed(&rest[i..]),
                Some(i) => Cow::Owned(format!("/{}", &rest[i..])),
                None => Cow::Borrowed("/"),
            });
        }
    }
    Err(HttpError::BadRequest(
        "request target must be /path or http://host/path",
    ))
}

/// An incomplete head: fine unless it is already over a limit.
fn incomplete(buf: &[u8], lim: &Limits) -> Result<Option<Head>, HttpError> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line_len = line_end.unwrap_or(buf.len());
    // method SP target SP HTTP/1.1: allow 32 bytes around the target.
    if line_len > lim.max_uri_bytes + 32 {
        return Err(HttpError::UriTooLong {
            limit: lim.max_uri_bytes,
        });
    }
    if buf.len() > lim.max_head_bytes {
        return Err(HttpError::HeadersTooLarge {
            limit: lim.max_head_bytes,
        });
    }
    Ok(None)
}

/// `METHOD SP target SP HTTP/x.y` with a version httparse refuses: 505 rather than 400.
fn looks_like_other_version(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_), Some(_), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    v.len() >= 8 && v.starts_with(b"HTTP/") && v[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        max_head_bytes: 1024,
        max_uri_bytes: 64,
        max_headers: 8,
        max_body_bytes: 100,
    };

    fn parse(s: &str) -> Result<Option<Head>, HttpError> {
        parse_head(s.as_bytes(), "127.0.0.1:1".parse().unwrap(), &LIM)
    }

    fn status(s: &str) -> u16 {
        parse(s).unwrap_err().status()
    }

    #[test]
    fn simple_get_persists_in_1_1_and_not_in_1_0() {
        let h = parse("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.request.path, "/a");
        assert_eq!(h.request.query.as_deref(), Some("b=c"));
        assert!(h.keep_alive);
        assert_eq!(h.framing, Framing::None);
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
    }

    #[test]
    fn absolute_form_is_reduced_to_origin_form() {
        let h = parse("GET HTTP://x:80/a/b?c HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.request.path.as_str(), h.request.query.as_deref()),
            ("/a/b", Some("c"))
        );
        let h = parse("GET http://x?q HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.request.path.as_str(), h.request.query.as_deref()),
            ("/", Some("q"))
        );
        let h = parse("GET http://x HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.request.path, "/");
    }

    #[test]
    fn partial_heads_wait() {
        assert!(parse("GET / HTTP/1.1\r\nHost:").unwrap().is_none());
        assert!(parse("").unwrap().is_none());
    }

    #[test]
    fn framing_rules() {
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn smuggling_and_length_errors() {
        let cl_te =
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(cl_te), 400);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
            400
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(status("POST / HTTP/1.1\r\nHost: x\r\n\r\n"), 411);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"),
            413
        );
    }

    #[test]
    fn limits_and_versions() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(80));
        assert_eq!(status(&long), 414);
        let partial_long = format!("GET /{}", "a".repeat(200));
        assert_eq!(status(&partial_long), 414);
        let many: String = (0..9).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")),
            431
        );
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "v".repeat(1100));
        assert_eq!(status(&big), 431);
        assert_eq!(status("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("BREW / HTTP/1.1\r\nHost: x\r\n\r\n"), 501);
        assert_eq!(status("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(status("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n"),
            417
        );
        assert_eq!(status("\x00\x01garbage\r\n\r\n"), 400);
    }

    #[test]
    fn no_panic_on_any_prefix_of_a_request() {
        let req = b"POST /x?y HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
        for n in 0..req.len() {
            let _ = parse_head(&req[..n], "127.0.0.1:1".parse().unwrap(), &LIM);
        }
        let h = parse_head(req, "127.0.0.1:1".parse().unwrap(), &LIM)
            .unwrap()
            .unwrap();
        assert!(h.expect_continue);
    }
}
