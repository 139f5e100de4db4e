//! Validators and ranges (RFC 9110 sections 8.8, 13 and 14): `ETag` / `Last-Modified`,
//! `If-None-Match` / `If-Modified-Since` → 304, and `If-Range`, which decides whether a
//! `Range` applies (see `range`).

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

#[cfg(test)]
mod tests {
    use super::*;

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
