//! Static files: the `StaticFiles` handler serves `document_root` (see `path` for how a
//! request path is confined to it), with MIME types, validators (`ETag`, `Last-Modified`)
//! answered by 304, and byte ranges answered by 206 (`multipart/byteranges` for several) or
//! 416. Bodies are file regions, which the connection sends with `sendfile(2)` when large.

pub mod conditional;
pub mod path;
pub mod range;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::SystemTime;

use crate::handler::Handler;
use crate::request::Request;
use crate::response::{Body, Response};
use conditional::{etag, if_range_holds, not_modified};
use path::{Refusal, Rules};
use range::{multipart, parse_range, RangeSpec};

/// Methods a static resource answers.
pub const ALLOW: &str = "GET, HEAD";

/// Serves a directory.
#[derive(Debug)]
pub struct StaticFiles {
    root: PathBuf,
    index: Vec<String>,
    blocked: Vec<String>,
    follow_out: bool,
    sendfile_min: u64,
    /// The root, opened on first use in each worker (after the fork).
    root_fd: OnceLock<Option<OwnedFd>>,
}

impl StaticFiles {
    /// Serves canonical directory `root`.
    pub fn new(
        root: PathBuf,
        index: Vec<String>,
        blocked: Vec<String>,
        follow_out: bool,
        sendfile_min: u64,
    ) -> Self {
        Self {
            root,
            index,
            blocked,
            follow_out,
            sendfile_min,
            root_fd: OnceLock::new(),
        }
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            root: &self.root,
            index: &self.index,
            blocked: &self.blocked,
            follow_out: self.follow_out,
        }
    }
}

impl Handler for StaticFiles {
    fn handle(&self, req: &Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return method_not_allowed(&req.method);
        }
        let root_fd = self.root_fd.get_or_init(|| open_dir(&self.root));
        let file = match path::open(
            &req.path,
            &self.rules(),
            root_fd.as_ref().map(|f| f.as_fd()),
        ) {
            Ok(found) => found,
            Err(Refusal::AddSlash) => {
                return Response::text(301, "moved\n").header("Location", format!("{}/", req.path))
            }
            Err(Refusal::BadPath) => return Response::text(400, "bad path\n"),
            Err(Refusal::Forbidden) => return Response::text(403, "forbidden\n"),
            Err(Refusal::NotFound) => return Response::text(404, "not found\n"),
        };
        match serve_file(req, file, self.sendfile_min) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("static file: {e}");
                Response::text(404, "not found\n")
            }
        }
    }
}

/// The root as an `O_PATH` directory fd for `openat2`; `None` (slow path only) if it fails.
fn open_dir(root: &std::path::Path) -> Option<OwnedFd> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    nix::fcntl::open(root, flags, nix::sys::stat::Mode::empty()).ok()
}

/// 405 with `Allow`.
pub fn method_not_allowed(method: &str) -> Response {
    crate::error::HttpError::MethodNotAllowed {
        method: method.to_string(),
        allow: ALLOW,
    }
    .to_response()
}

fn serve_file(req: &Request, found: path::Found, sendfile_min: u64) -> std::io::Result<Response> {
    let path::Found {
        mut file,
        path,
        meta,
    } = found;
    let size = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let tag = etag(size, mtime);
    let modified = httpdate::fmt_http_date(mtime);
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let mime = if mime.type_() == "text" || mime.subtype() == "javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let base = |status| {
        Response::new(status)
            .header("ETag", tag.clone())
            .header("Last-Modified", modified.clone())
    };
    if not_modified(req, &tag, mtime) {
        return Ok(base(304));
    }
    let ranges = match req.header("range") {
        Some(r) if if_range_holds(req, &tag, mtime) => parse_range(r, size),
        _ => RangeSpec::Ignore,
    };
    let (status, offset, len) = match ranges {
        RangeSpec::Satisfiable(r) if r.len() > 1 => {
            let m = multipart(&r, size, &mime);
            return Ok(base(206)
                .header(
                    "Content-Type",
                    format!("multipart/byteranges; boundary={}", m.boundary),
                )
                .header("Accept-Ranges", "bytes")
                .body(Body::Regions {
                    file,
                    parts: m.parts,
                    tail: m.tail,
                }));
        }
        RangeSpec::Satisfiable(r) => (206, r[0].0, r[0].1 - r[0].0 + 1),
        RangeSpec::Unsatisfiable => {
            return Ok(base(416)
                .header("Content-Range", format!("bytes */{size}"))
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(Body::Static(b"range not satisfiable\n")));
        }
        RangeSpec::Ignore => (200, 0, size),
    };
    let mut resp = base(status)
        .header("Content-Type", mime)
        .header("Accept-Ranges", "bytes");
    if status == 206 {
        let last = offset + len - 1;
        resp = resp.header("Content-Range", format!("bytes {offset}-{last}/{size}"));
    }
    let body = if req.method == "HEAD" || len >= sendfile_min {
        Body::File { file, offset, len }
    } else {
        let mut buf = vec![0; len as usize];
        if offset > 0 {
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
        }
        file.read_exact(&mut buf)?;
        Body::Bytes(buf)
    };
    Ok(resp.body(body))
}
