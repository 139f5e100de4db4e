//! `Handler`: how a Rust application answers requests (the role a Zend Framework application
//! had under ZEUS for PHP), and the `Router` that picks one by path.
//!
//! Contract for a handler:
//! - `handle` gets a whole request (head and decoded body) and returns a whole response; the
//!   body may be a file region, sent zero-copy;
//! - it runs inside a worker's event loop, so it must not block for long: every connection
//!   of that worker waits meanwhile (use more workers for slow applications);
//! - it is built once, before the workers fork, and each worker process gets its own copy:
//!   state kept in a handler is per worker process, not shared;
//! - it never panics on input.
//!
//! Implementations: `files::StaticFiles` (a directory), `welcome::Welcome` (the bundled
//! site), and applications registered by name (`Http::handler`) and mounted on a prefix.

use std::sync::Arc;

use crate::request::Request;
use crate::response::Response;

/// A request → response application.
pub trait Handler: Send + Sync {
    /// Answers one request. `req.path` is the full path, mount prefix included.
    fn handle(&self, req: &Request) -> Response;
}

/// Where a request goes.
pub enum Route<'a> {
    /// The built-in status page.
    Status,
    /// A handler.
    Handler(&'a dyn Handler),
}

/// Picks the handler of a path: status page, longest matching mount, else the site.
pub struct Router {
    status_path: Option<String>,
    mounts: Vec<(String, Arc<dyn Handler>)>,
    site: Arc<dyn Handler>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("status_path", &self.status_path)
            .field(
                "mounts",
                &self.mounts.iter().map(|m| &m.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Router {
    /// A router over `site`, with `mounts` (prefix, handler) and an optional status page.
    pub fn new(
        site: Arc<dyn Handler>,
        mut mounts: Vec<(String, Arc<dyn Handler>)>,
        status_path: Option<String>,
    ) -> Self {
        mounts.sort_by_key(|m| std::cmp::Reverse(m.0.len()));
        Self {
            status_path,
            mounts,
            site,
        }
    }

    /// The route of `path` (without query).
    pub fn route(&self, path: &str) -> Route<'_> {
        if self.status_path.as_deref() == Some(path) {
            return Route::Status;
        }
        for (prefix, h) in &self.mounts {
            if under(path, prefix) {
                return Route::Handler(h.as_ref());
            }
        }
        Route::Handler(self.site.as_ref())
    }
}

/// `path` is `prefix` itself or below it (`/api` matches `/api` and `/api/x`, not `/apix`).
fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(u16);
    impl Handler for Named {
        fn handle(&self, _: &Request) -> Response {
            Response::new(self.0)
        }
    }

    fn status_of(r: &Router, path: &str) -> u16 {
        let req = Request {
            method: "GET".into(),
            path: path.into(),
            query: None,
            minor_version: 1,
            headers: Vec::new(),
            body: Vec::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        };
        match r.route(path) {
            Route::Status => 0,
            Route::Handler(h) => h.handle(&req).status,
        }
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let r = Router::new(
            Arc::new(Named(1)),
            vec![
                ("/api".into(), Arc::new(Named(2)) as Arc<dyn Handler>),
                ("/api/v2".into(), Arc::new(Named(3))),
            ],
            Some("/status".into()),
        );
        assert_eq!(status_of(&r, "/"), 1);
        assert_eq!(status_of(&r, "/apix"), 1);
        assert_eq!(status_of(&r, "/api"), 2);
        assert_eq!(status_of(&r, "/api/v1/x"), 2);
        assert_eq!(status_of(&r, "/api/v2/x"), 3);
        assert_eq!(status_of(&r, "/status"), 0);
        assert_eq!(status_of(&r, "/status/x"), 1);
    }
}
