//! The combined log format (Apache's `combined`, nginx's default):
//! `host - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 2326 "referer" "agent"`.
//! Times are UTC; fields are escaped so that no request can forge or split a line.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::Request;

/// What one line records.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The client.
    pub peer: IpAddr,
    /// The request line (`GET /a?b HTTP/1.1`) as received; empty if none was (logged `-`).
    pub request: &'a [u8],
    /// Status sent.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// `Referer`, if sent.
    pub referer: Option<&'a [u8]>,
    /// `User-Agent`, if sent.
    pub agent: Option<&'a [u8]>,
    /// When the reply was queued.
    pub time: SystemTime,
}

/// The request line of a parsed request, as the log shows it.
pub fn request_line(req: &Request) -> String {
    format!(
        "{} {} HTTP/1.{}",
        req.method,
        req.target(),
        req.minor_version
    )
}

impl<'a> Entry<'a> {
    /// A handled request; `line` is its `request_line`.
    pub fn of(req: &'a Request, line: &'a str, status: u16, bytes: u64) -> Self {
        let field = |name| {
            req.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice())
        };
        Self {
            peer: req.peer.ip(),
            request: line.as_bytes(),
            status,
            bytes,
            referer: field("referer"),
            agent: field("user-agent"),
            time: SystemTime::now(),
        }
    }
}

/// Quotes a field as nginx does: `"` and `\` escaped with `\`, other bytes outside
/// printable ASCII as `\xHH`, so a hostile request cannot forge a line; `-` when absent.
fn quoted(v: Option<&[u8]>, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    match v {
        None | Some([]) => out.push('-'),
        Some(v) => {
            for &c in v {
                match c {
                    b'"' | b'\\' => {
                        out.push('\\');
                        out.push(c as char);
                    }
                    0x20..=0x7e => out.push(c as char),
                    _ => {
                        let _ = write!(out, "\\x{c:02X}");
                    }
                }
            }
        }
    }
    out.push('"');
}

/// One combined-format line, newline included.
pub fn line(e: &Entry<'_>) -> String {
    let mut out = format!("{} - - [{}] ", e.peer, clf_time(e.time));
    quoted(Some(e.request), &mut out);
    if e.bytes == 0 {
        out.push_str(&format!(" {} - ", e.status));
    } else {
        out.push_str(&format!(" {} {} ", e.status, e.bytes));
    }
    quoted(e.referer, &mut out);
    out.push(' ');
    quoted(e.agent, &mut out);
    out.push('\n');
    out
}

/// `10/Oct/2000:13:55:36 +0000`.
pub fn clf_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_format() {
        let req = Request {
            method: "GET".into(),
            path: "/a".into(),
            query: Some("b=1".into()),
            minor_version: 1,
            headers: vec![("User-Agent".into(), b"curl/8 \"x\"".to_vec())],
            body: Vec::new(),
            peer: "127.0.0.1:5".parse().unwrap(),
        };
        let t = UNIX_EPOCH + std::time::Duration::from_secs(971_186_136);
        let rl = request_line(&req);
        let e = Entry {
            time: t,
            ..Entry::of(&req, &rl, 200, 2326)
        };
        assert_eq!(
            line(&e),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a?b=1 HTTP/1.1\" 200 2326 \"-\" \"curl/8 \\\"x\\\"\"\n"
        );
        let raw = Entry {
            peer: "::1".parse().unwrap(),
            request: b"GET /\x01\"\xff",
            status: 400,
            bytes: 0,
            referer: None,
            agent: None,
            time: t,
        };
        assert_eq!(
            line(&raw),
            "::1 - - [10/Oct/2000:13:55:36 +0000] \"GET /\\x01\\\"\\xFF\" 400 - \"-\" \"-\"\n"
        );
        let none = Entry {
            request: b"",
            ..raw
        };
        assert!(line(&none).contains("] \"-\" 400 - "));
        assert_eq!(
            clf_time(UNIX_EPOCH + std::time::Duration::from_secs(1_709_208_000)),
            "29/Feb/2024:12:00:00 +0000"
        );
    }
}
