//! `HttpError`: every way a request can be refused before a handler sees it, and the wire
//! reply each one becomes (`status`, `to_response`). The connection is closed after any of
//! them, since the framing of what follows can no longer be trusted.

use crate::response::Response;

/// A request refused by the protocol layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Syntax or framing error (also: CL + TE, conflicting lengths, missing Host).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A known method this resource does not support; `Allow` lists what it does.
    #[error("method {method} not allowed (allowed: {allow})")]
    MethodNotAllowed {
        /// The method received.
        method: String,
        /// The `Allow` header value.
        allow: &'static str,
    },
    /// A method (or transfer coding) this server does not implement.
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// A request that needs a body length came without one.
    #[error("length required")]
    LengthRequired,
    /// The body is larger than `max_body_bytes`.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The request target is longer than `max_uri_bytes`.
    #[error("request target longer than {limit} bytes")]
    UriTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The head is larger than `max_head_bytes`, or has more than `max_headers` fields.
    #[error("header fields too large (limit {limit})")]
    HeadersTooLarge {
        /// The limit that was hit.
        limit: usize,
    },
    /// An `Expect` other than `100-continue`.
    #[error("expectation failed")]
    ExpectationFailed,
    /// An HTTP version other than 1.0 and 1.1.
    #[error("HTTP version not supported")]
    VersionNotSupported,
}

impl HttpError {
    /// The status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::MethodNotAllowed { .. } => 405,
            Self::LengthRequired => 411,
            Self::PayloadTooLarge { .. } => 413,
            Self::UriTooLong { .. } => 414,
            Self::ExpectationFailed => 417,
            Self::HeadersTooLarge { .. } => 431,
            Self::NotImplemented(_) => 501,
            Self::VersionNotSupported => 505,
        }
    }

    /// The reply: the status, a one-line text body, and `Allow` for 405.
    pub fn to_response(&self) -> Response {
        let mut r = Response::text(self.status(), format!("{self}\n"));
        if let Self::MethodNotAllowed { allow, .. } = self {
            r = r.header("Allow", *allow);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_status_and_405_carries_allow() {
        let e = HttpError::MethodNotAllowed {
            method: "PUT".into(),
            allow: "GET, HEAD",
        };
        let r = e.to_response();
        assert_eq!(r.status, 405);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "Allow" && v == "GET, HEAD"));
        assert_eq!(HttpError::UriTooLong { limit: 1 }.status(), 414);
        assert_eq!(HttpError::HeadersTooLarge { limit: 1 }.status(), 431);
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
    }
}
