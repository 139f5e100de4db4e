//! Validators and ranges (RFC 9110 sections 8.8, 13 and 14): `ETag` / `Last-Modified`,
//! `If-None-Match` / `If-Modified-Since` → 304, `Range` with `If-Range` → 206 / 416.
//! Only single ranges are served; a multi-range request gets the whole file (allowed: a
//! server may ignore `Range`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::Request;

/// A strong validator from size and modification time.
pub fn etag(size: u64, mtime: SystemTime) -> String {
    let ns = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("\"{size:x}-{ns:x}\"")
}

/// Whether the client's copy is current (`If-None-Match` wins over `If-Modified-Since`).
pub fn not_modified(req: &Request, tag: &str, mtime: SystemTime) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        // Weak comparison: W/ prefixes are ignored.
        return inm.split(',').map(str::trim).any(|t| {
            t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag.strip_prefix("W/").unwrap_or(tag)
        });
    }
    match req
        .header("if-modified-since")
        .map(httpdate::parse_http_date)
    {
        Some(Ok(since)) => whole_secs(mtime) <= whole_secs(since),
        _ => false,
    }
}

/// `If-Range`: the range applies only if the validator still matches (strong comparison).
pub fn if_range_holds(req: &Request, tag: &str, mtime: SystemTime) -> bool {
    match req.header("if-range") {
        None => true,
        Some(v) if v.starts_with('"') => v == tag,
        Some(v) => httpdate::parse_http_date(v).is_ok_and(|d| whole_secs(d) == whole_secs(mtime)),
    }
}

fn whole_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A parsed `Range` header against a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// Serve bytes `first..=last`.
    Satisfiable(u64, u64),
    /// 416.
    Unsatisfiable,
    /// Not a single byte range we serve: send the whole representation.
    Ignore,
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n`.
pub fn parse_range(h: &str, size: u64) -> RangeSpec {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if spec.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Ignore;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (a.is_empty(), num(a), num(b)) {
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeSpec::Unsatisfiable
            } else {
                RangeSpec::Satisfiable(size.saturating_sub(n), size - 1)
            }
        }
        (false, Some(first), last) if b.is_empty() || last.is_some() => {
            if first >= size {
                return RangeSpec::Unsatisfiable;
            }
            match last {
                Some(l) if l < first => RangeSpec::Ignore,
                Some(l) => RangeSpec::Satisfiable(first, l.min(size - 1)),
                None => RangeSpec::Satisfiable(first, size - 1),
            }
        }
        _ => RangeSpec::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90, 99));
        assert_eq!(parse_range("bytes=-200", 100), Satisfiable(0, 99));
        assert_eq!(parse_range("bytes=50-500", 100), Satisfiable(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("bytes=5-1", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=x-1", 100), Ignore);
    }

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[test]
    fn validators() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let tag = etag(5, t);
        assert!(not_modified(&req(&[("If-None-Match", &tag)]), &tag, t));
        assert!(not_modified(
            &req(&[("If-None-Match", &format!("\"x\", W/{tag}"))]),
            &tag,
            t
        ));
        assert!(!not_modified(
            &req(&[("If-None-Match", "\"other\"")]),
            &tag,
            t
        ));
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(&req(&[("If-Modified-Since", &date)]), &tag, t));
        let before = httpdate::fmt_http_date(t - std::time::Duration::from_secs(5));
        assert!(!not_modified(
            &req(&[("If-Modified-Since", &before)]),
            &tag,
            t
        ));
        assert!(if_range_holds(&req(&[("If-Range", &tag)]), &tag, t));
        assert!(!if_range_holds(&req(&[("If-Range", "\"old\"")]), &tag, t));
    }
}
