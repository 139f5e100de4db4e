//! The access log, in the combined log format (Apache's `combined`, nginx's default):
//! `host - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 2326 "referer" "agent"`.
//! Times are UTC. Each line is one `write(2)` on a file opened `O_APPEND`, so lines of
//! different workers never interleave.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::request::Request;

/// Where log lines go.
#[derive(Debug)]
pub enum AccessLog {
    /// Not logged.
    Off,
    /// Standard output.
    Stdout,
    /// An append-only file.
    File(File),
}

impl AccessLog {
    /// From the `access_log` setting: empty (off), `stdout`, or a path.
    pub fn open(setting: &str) -> io::Result<Self> {
        Ok(match setting {
            "" => Self::Off,
            "stdout" => Self::Stdout,
            p => Self::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(p))?,
            ),
        })
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        !matches!(self, Self::Off)
    }

    /// Logs one exchange (`bytes` = body bytes sent).
    pub fn log(&mut self, req: &Request, status: u16, bytes: u64) {
        if !self.enabled() {
            return;
        }
        let line = line(req, status, bytes, SystemTime::now());
        let r = match self {
            Self::Off => Ok(()),
            Self::Stdout => io::stdout().lock().write_all(line.as_bytes()),
            Self::File(f) => f.write_all(line.as_bytes()),
        };
        if let Err(e) = r {
            tracing::warn!("access log write failed: {e}");
        }
    }
}

/// One combined-format line, newline included.
pub fn line(req: &Request, status: u16, bytes: u64, now: SystemTime) -> String {
    let quote = |s: Option<&str>| match s {
        Some(v) => v.replace('\\', "\\\\").replace('"', "\\\""),
        None => "-".into(),
    };
    let size = if bytes == 0 {
        "-".to_string()
    } else {
        bytes.to_string()
    };
    format!(
        "{} - - [{}] \"{} {} HTTP/1.{}\" {status} {size} \"{}\" \"{}\"\n",
        req.peer.ip(),
        clf_time(now),
        req.method,
        quote(Some(&req.target())),
        req.minor_version,
        quote(req.header("referer")),
        quote(req.header("user-agent")),
    )
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
        assert_eq!(
            line(&req, 200, 2326, t),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a?b=1 HTTP/1.1\" 200 2326 \"-\" \"curl/8 \\\"x\\\"\"\n"
        );
        assert_eq!(
            clf_time(UNIX_EPOCH + std::time::Duration::from_secs(1_709_208_000)),
            "29/Feb/2024:12:00:00 +0000"
        );
    }
}
