//! `Response`: what a handler returns, and how its head is written on the wire (status line,
//! `Date`, `Server`, `Content-Length`, `Connection`). Bodies are bytes in memory or a region of
//! an open file, which the connection sends with `sendfile(2)`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::fs::File;
use std::sync::Arc;
use std::time::SystemTime;

/// A response body.
#[derive(Default)]
pub enum Body {
    /// No body (`Content-Length: 0`, or none at all for 204/304).
    #[default]
    Empty,
    /// Bytes owned by the response.
    Bytes(Vec<u8>),
    /// Bytes compiled into the binary.
    Static(&'static [u8]),
    /// `len` bytes of `file` from `offset`, sent zero-copy.
    File {
        /// The open file.
        file: File,
        /// First byte.
        offset: u64,
        /// Byte count.
        len: u64,
    },
    /// `len` bytes of a file shared with a cache (`files::cache`), from `offset`, sent
    /// zero-copy like `File`.
    SharedFile {
        /// The open file.
        file: Arc<File>,
        /// First byte.
        offset: u64,
        /// Byte count.
        len: u64,
    },
    /// Regions of one file, each after its own prefix bytes, then `tail`: a
    /// `multipart/byteranges` body, sent with `sendfile(2)` between the prefixes.
    Regions {
        /// The open file.
        file: File,
        /// The regions, in order.
        parts: Vec<Region>,
        /// Bytes after the last region.
        tail: Vec<u8>,
    },
    /// Bytes produced while sending, read in chunks: sent with `Transfer-Encoding: chunked`
    /// (or, to an HTTP/1.0 client, until the connection closes). `read` runs in the worker's
    /// event loop, so it must not block for long.
    Stream(Box<dyn std::io::Read + Send>),
}

/// `len` bytes of a file from `offset`, after `prefix` (see `Body::Regions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Bytes sent before the region.
    pub prefix: Vec<u8>,
    /// First byte of the region.
    pub offset: u64,
    /// Byte count.
    pub len: u64,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Static(b) => write!(f, "Static({} bytes)", b.len()),
            Self::File { offset, len, .. } | Self::SharedFile { offset, len, .. } => {
                write!(f, "File {{ offset: {offset}, len: {len} }}")
            }
            Self::Regions { parts, .. } => write!(f, "Regions({} parts)", parts.len()),
            Self::Stream(_) => f.write_str("Stream"),
        }
    }
}

impl Body {
    /// The length, when known before sending (not for a stream).
    pub fn len(&self) -> Option<u64> {
        match self {
            Self::Empty => Some(0),
            Self::Bytes(b) => Some(b.len() as u64),
            Self::Static(b) => Some(b.len() as u64),
            Self::File { len, .. } | Self::SharedFile { len, .. } => Some(*len),
            Self::Regions { parts, tail, .. } => Some(
                parts
                    .iter()
                    .map(|r| r.prefix.len() as u64 + r.len)
                    .sum::<u64>()
                    + tail.len() as u64,
            ),
            Self::Stream(_) => None,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether the body is a stream (length unknown).
    pub fn is_stream(&self) -> bool {
        matches!(self, Self::Stream(_))
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields, in order (`Date`, `Server`, `Content-Length` and `Connection` are added
    /// by the connection and must not be set here). Names and values written in the source
    /// (`"Content-Type"`, `"application/json"`) are borrowed, not copied to the heap.
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The body (dropped for HEAD, but still counted in `Content-Length`).
    pub body: Body,
}

impl Response {
    /// A response with no headers and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(Body::Bytes(text.into().into_bytes()))
    }

    /// An `application/json` response: a `serde_json::Value` (`json!`), or any `Serialize`
    /// type, written straight to the body (no `Value` tree built first). A value that fails
    /// to serialise (a map with non-string keys) gives a 500.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(mut bytes) => {
                bytes.push(b'\n');
                Self::new(status)
                    .header("Content-Type", "application/json")
                    .body(Body::Bytes(bytes))
            }
            Err(e) => {
                tracing::error!("response body did not serialise: {e}");
                Self::text(500, "internal server error\n")
            }
        }
    }

    /// Adds a header field: a `&'static str` or a `String` for either part.
    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Writes the head; `keep_alive` / `http10` choose the `Connection` field.
    pub(crate) fn write_head(&self, out: &mut Vec<u8>, keep_alive: bool, http10: bool) {
        // Plain byte copies, no `fmt` machinery: this runs once per response.
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(self.status).as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        push_date(out);
        out.extend_from_slice(b"\r\nServer: zeus\r\n");
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        // RFC 9110 8.6: no Content-Length in 1xx, 204 and 304 (a 304 may carry one, but need not).
        if !matches!(self.status, 100..=199 | 204 | 304) {
            match self.body.len() {
                Some(n) => {
                    out.extend_from_slice(b"Content-Length: ");
                    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                // HTTP/1.0 has no chunked coding: the close ends the body (the caller closes).
                None if http10 => {}
                None => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            }
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if http10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the IMF-fixdate of now, formatted at most once a second per thread (the
/// cached bytes are copied, not cloned into a new `String`). The second comes from the
/// coarse clock (the last kernel tick, a few ms behind, no TSC read): a whole-second field
/// needs no more, and this runs once per response.
fn push_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let secs = zeus_core::clock::now_ms_coarse() / 1000;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs || c.1.is_empty() {
            c.0 = secs;
            c.1.clear();
            let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let _ = write!(c.1, "{}", httpdate::HttpDate::from(at));
        }
        out.extend_from_slice(c.1.as_bytes());
    })
}

/// The reason phrase of the codes this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_takes_any_serialize_and_refuses_what_cannot_be_json() {
        #[derive(serde::Serialize)]
        struct Hello<'a> {
            hello: &'a str,
        }
        let r = Response::json(201, &Hello { hello: "a\"b" });
        assert_eq!(r.status, 201);
        match &r.body {
            Body::Bytes(b) => assert_eq!(b.as_slice(), b"{\"hello\":\"a\\\"b\"}\n"),
            other => panic!("unexpected body {other:?}"),
        }
        // JSON object keys must be strings: a map keyed by tuples cannot be written.
        let bad: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert_eq!(Response::json(200, &bad).status, 500);
    }

    #[test]
    fn head_has_length_date_server_and_close() {
        let r = Response::text(200, "hi");
        let mut out = Vec::new();
        r.write_head(&mut out, false, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(s.contains("Server: zeus\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn a_stream_is_chunked_in_1_1_and_unframed_in_1_0() {
        let r = Response::new(200).body(Body::Stream(Box::new(std::io::empty())));
        let mut out = Vec::new();
        r.write_head(&mut out, true, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Transfer-Encoding: chunked\r\n") && !s.contains("Content-Length"));
        let mut out = Vec::new();
        r.write_head(&mut out, false, true);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("Transfer-Encoding") && !s.contains("Content-Length"));
        assert!(s.contains("Connection: close"));
    }

    #[test]
    fn not_modified_has_no_length() {
        let mut out = Vec::new();
        Response::new(304).write_head(&mut out, true, false);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("Content-Length"));
        assert!(!s.contains("Connection"));
    }
}
