//! Static files: the `StaticFiles` handler serves `document_root` (see `path` for how a
//! request path is confined to it), with MIME types, validators (`ETag`, `Last-Modified`)
//! answered by 304, and byte ranges answered by 206 (`multipart/byteranges` for several) or
//! 416. Bodies are file regions, which the connection sends with `sendfile(2)` when large;
//! small files are read. Both are kept for `open_file_cache_valid` seconds (`cache`): the
//! bytes of a small file, the descriptor of a large one.

pub mod cache;
pub mod conditional;
pub mod path;
pub mod range;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

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
    /// How long a small file read stays in the cache; zero: no cache.
    cache_valid: Duration,
    /// This instance's key in the per-thread cache.
    id: u64,
    /// The root, opened on first use in each worker (after the fork).
    root_fd: OnceLock<Option<OwnedFd>>,
}

/// What the responses for one file need to know (kept with the bytes in `cache`).
#[derive(Debug, Clone)]
pub struct Resource {
    /// Bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
    /// `ETag` value.
    pub tag: String,
    /// `Last-Modified` value.
    pub modified: String,
    /// `Content-Type` value.
    pub mime: String,
}

impl Resource {
    fn of(path: &std::path::Path, meta: &std::fs::Metadata) -> Self {
        let size = meta.len();
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let mime = if mime.type_() == "text" || mime.subtype() == "javascript" {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_string()
        };
        Self {
            size,
            mtime,
            tag: etag(size, mtime),
            modified: httpdate::fmt_http_date(mtime),
            mime,
        }
    }

    /// A response with the validators.
    fn base(&self, status: u16) -> Response {
        Response::new(status)
            .header("ETag", self.tag.clone())
            .header("Last-Modified", self.modified.clone())
    }

    /// 304 if the client's copy is current, else the whole representation.
    fn whole(&self, req: &Request, body: impl FnOnce() -> Body) -> Response {
        if not_modified(req, &self.tag, self.mtime) {
            return self.base(304);
        }
        self.base(200)
            .header("Content-Type", self.mime.clone())
            .header("Accept-Ranges", "bytes")
            .body(body())
    }
}

impl StaticFiles {
    /// Serves canonical directory `root`.
    pub fn new(
        root: PathBuf,
        index: Vec<String>,
        blocked: Vec<String>,
        follow_out: bool,
        sendfile_min: u64,
        cache_valid: Duration,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            root,
            index,
            blocked,
            follow_out,
            sendfile_min,
            cache_valid,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            root_fd: OnceLock::new(),
        }
    }

    /// Answers from `found` and caches it: a small file's bytes (read here), or a larger
    /// file's descriptor.
    fn serve_and_cache(&self, req: &Request, found: path::Found) -> Response {
        let size = found.meta.len();
        let path::Found {
            mut file,
            path,
            meta,
        } = found;
        let content = if size < self.sendfile_min && size <= cache::MAX_FILE {
            let mut bytes = vec![0; size as usize];
            if let Err(e) = file.read_exact(&mut bytes) {
                tracing::debug!("static file: {e}");
                return Response::text(404, "not found\n");
            }
            cache::Content::Bytes(bytes.into_boxed_slice())
        } else {
            cache::Content::File(Arc::new(file))
        };
        let c = Rc::new(cache::Cached {
            res: Resource::of(&path, &meta),
            content,
        });
        let resp = respond_cached(req, &c);
        let valid = self.cache_valid;
        cache::with(|cache| cache.put(self.id, &req.path, c, valid, Instant::now()));
        resp
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
        // A request with Range is served from the file: the cache holds whole answers.
        let cacheable = !self.cache_valid.is_zero() && req.header("range").is_none();
        if cacheable {
            let hit = cache::with(|c| c.get(self.id, &req.path, self.cache_valid, Instant::now()));
            if let Some(c) = hit {
                return respond_cached(req, &c);
            }
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
        if cacheable {
            return self.serve_and_cache(req, file);
        }
        match serve_file(req, file, self.sendfile_min) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("static file: {e}");
                Response::text(404, "not found\n")
            }
        }
    }
}

/// The whole representation (or 304) from a cached file.
fn respond_cached(req: &Request, c: &cache::Cached) -> Response {
    c.res.whole(req, || match &c.content {
        cache::Content::Bytes(b) => Body::Bytes(b.to_vec()),
        cache::Content::File(f) => Body::SharedFile {
            file: f.clone(),
            offset: 0,
            len: c.res.size,
        },
    })
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
    let res = Resource::of(&path, &meta);
    let (size, mtime, tag) = (res.size, res.mtime, &res.tag);
    let base = |status| res.base(status);
    if not_modified(req, tag, mtime) {
        return Ok(base(304));
    }
    let ranges = match req.header("range") {
        Some(r) if if_range_holds(req, tag, mtime) => parse_range(r, size),
        _ => RangeSpec::Ignore,
    };
    let (status, offset, len) = match ranges {
        RangeSpec::Satisfiable(r) if r.len() > 1 => {
            let m = multipart(&r, size, &res.mime);
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
        .header("Content-Type", res.mime.clone())
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
