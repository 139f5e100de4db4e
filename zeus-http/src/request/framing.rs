//! What a parsed head says about the message around it (RFC 9112 sections 3.2, 6 and 9):
//! `Host`, the body framing, persistence and `Expect`. Ambiguous framing is refused here:
//! `Content-Length` with `Transfer-Encoding`, differing lengths, or a final coding other
//! than `chunked` (the request-smuggling cases).

use super::{Framing, Limits, Request};
use crate::error::HttpError;

/// HTTP/1.1 needs exactly one `Host` (RFC 9112 3.2).
pub(super) fn check_host(r: &Request) -> Result<(), HttpError> {
    let hosts = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (r.minor_version == 1 && hosts == 0) {
        return Err(HttpError::BadRequest("a request needs exactly one Host"));
    }
    Ok(())
}

/// The body framing (RFC 9112 6.3), refusing ambiguous ones.
pub(super) fn framing(r: &Request, lim: &Limits) -> Result<Framing, HttpError> {
    let mut length: Option<u64> = None;
    let mut codings: Vec<String> = Vec::new();
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(v).map_err(|_| HttpError::BadRequest("Content-Length"))?;
            // A list of identical values is allowed (RFC 9110 8.6); anything else is refused.
            for part in v.split(',') {
                let n = parse_length(part.trim())?;
                if length.is_some_and(|l| l != n) {
                    return Err(HttpError::BadRequest("conflicting Content-Length"));
                }
                length = Some(n);
            }
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            let v =
                std::str::from_utf8(v).map_err(|_| HttpError::BadRequest("Transfer-Encoding"))?;
            codings.extend(
                v.split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty()),
            );
        }
    }
    let has_te = r
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    if has_te {
        if length.is_some() {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if r.minor_version == 0 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            [.., last] if last == "chunked" => Err(HttpError::NotImplemented(format!(
                "transfer coding {}",
                codings.join(", ")
            ))),
            _ => Err(HttpError::BadRequest("chunked must be the final coding")),
        };
    }
    match length {
        Some(n) if n > lim.max_body_bytes => Err(HttpError::PayloadTooLarge {
            limit: lim.max_body_bytes,
        }),
        Some(0) => Ok(Framing::None),
        Some(n) => Ok(Framing::Length(n)),
        None if matches!(r.method.as_str(), "POST" | "PUT" | "PATCH") => {
            Err(HttpError::LengthRequired)
        }
        None => Ok(Framing::None),
    }
}

fn parse_length(s: &str) -> Result<u64, HttpError> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::BadRequest("invalid Content-Length"));
    }
    s.parse()
        .map_err(|_| HttpError::BadRequest("invalid Content-Length"))
}

/// Whether the connection persists (RFC 9112 9.3): 1.1 unless `close`; 1.0 only with `keep-alive`.
pub(super) fn keep_alive(r: &Request) -> bool {
    let mut close = false;
    let mut ka = false;
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("connection") {
            for t in String::from_utf8_lossy(v).split(',') {
                let t = t.trim();
                close |= t.eq_ignore_ascii_case("close");
                ka |= t.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    !close && (r.minor_version == 1 || ka)
}

/// `Expect: 100-continue` (1.1 only); other expectations are refused with 417.
pub(super) fn expect_continue(r: &Request) -> Result<bool, HttpError> {
    match r.header("expect") {
        None => Ok(false),
        Some(v) if v.trim().eq_ignore_ascii_case("100-continue") => Ok(r.minor_version == 1),
        Some(_) => Err(HttpError::ExpectationFailed),
    }
}
