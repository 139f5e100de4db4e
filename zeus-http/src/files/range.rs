//! `Range: bytes=…` (RFC 9110 section 14): one range is answered by a plain 206, several by
//! a `multipart/byteranges` 206 whose parts are file regions (sent with `sendfile(2)`).
//!
//! Against range amplification (CVE-2011-3192: many overlapping ranges turn one small request
//! into a huge reply), a set is served only if it has at most `MAX_RANGES` ranges and they
//! add up to no more than the file; otherwise the whole file is sent (200), as nginx does.
//! Ranges are served in the order asked, not merged or sorted (nginx); unsatisfiable members
//! of a set are skipped, and 416 comes only when none is satisfiable.

use std::hash::{BuildHasher, Hasher};

use crate::response::Region;

/// Most ranges served in one request (nginx `max_ranges` has no default limit; Apache's
/// `MaxRanges` is 200).
pub const MAX_RANGES: usize = 100;

/// A parsed `Range` header against a representation of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// Serve these inclusive byte ranges (at least one), in this order.
    Satisfiable(Vec<(u64, u64)>),
    /// 416.
    Unsatisfiable,
    /// Not something we serve as ranges: send the whole representation.
    Ignore,
}

/// One member of a range set: `Some(first, last)` clipped to the size, `None` if it lies
/// beyond the end; `Err` for invalid syntax.
fn one(spec: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let (a, b) = spec.split_once('-').ok_or(())?;
    let num = |s: &str| -> Result<u64, ()> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(());
        }
        // An absurdly long number is still a valid one: saturate, do not refuse.
        Ok(s.parse().unwrap_or(u64::MAX))
    };
    if a.is_empty() {
        let n = num(b)?;
        return Ok((n > 0 && size > 0).then(|| (size.saturating_sub(n), size - 1)));
    }
    let first = num(a)?;
    let last = if b.is_empty() { u64::MAX } else { num(b)? };
    if last < first {
        return Err(());
    }
    Ok((first < size).then(|| (first, last.min(size - 1))))
}

/// Parses `bytes=a-b, c-, -n, …`.
pub fn parse_range(h: &str, size: u64) -> RangeSpec {
    let Some(set) = h.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    let mut ranges = Vec::new();
    let mut total = 0u64;
    for spec in set.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match one(spec, size) {
            Err(()) => return RangeSpec::Ignore,
            Ok(None) => {}
            Ok(Some((a, b))) => {
                total = total.saturating_add(b - a + 1);
                ranges.push((a, b));
                if ranges.len() > MAX_RANGES || total > size {
                    return RangeSpec::Ignore;
                }
            }
        }
    }
    if ranges.is_empty() {
        // `bytes=` with no member at all is invalid, not unsatisfiable.
        return if set.trim().trim_matches(',').trim().is_empty() {
            RangeSpec::Ignore
        } else {
            RangeSpec::Unsatisfiable
        };
    }
    RangeSpec::Satisfiable(ranges)
}

/// A `multipart/byteranges` body: the regions (each after its part head) and the closing
/// delimiter; `boundary` goes in the `Content-Type`.
#[derive(Debug)]
pub struct Multipart {
    /// The boundary.
    pub boundary: String,
    /// One region per range.
    pub parts: Vec<Region>,
    /// The close delimiter.
    pub tail: Vec<u8>,
}

/// Lays out the parts of `ranges` of a `size`-byte file of type `mime` (RFC 9110 14.6, with
/// nginx's framing: every delimiter starts with CRLF).
pub fn multipart(ranges: &[(u64, u64)], size: u64, mime: &str) -> Multipart {
    let boundary = boundary();
    let parts = ranges
        .iter()
        .map(|&(a, b)| Region {
            prefix: format!(
                "\r\n--{boundary}\r\nContent-Type: {mime}\r\nContent-Range: bytes {a}-{b}/{size}\r\n\r\n"
            )
            .into_bytes(),
            offset: a,
            len: b - a + 1,
        })
        .collect();
    let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
    Multipart {
        boundary,
        parts,
        tail,
    }
}

/// 20 hex digits from std's randomly keyed hasher: a file would have to contain this exact
/// string to confuse a client (RFC 2046 asks only that it does not occur in the parts).
fn boundary() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    format!("zeus{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeSpec::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(vec![(0, 9)]));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(vec![(90, 99)]));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(vec![(90, 99)]));
        assert_eq!(parse_range("bytes=-200", 100), Satisfiable(vec![(0, 99)]));
        assert_eq!(
            parse_range("bytes=50-500", 100),
            Satisfiable(vec![(50, 99)])
        );
        assert_eq!(
            parse_range("bytes=0-99999999999999999999999", 100),
            Satisfiable(vec![(0, 99)])
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=x-1", 100), Ignore);
        assert_eq!(parse_range("bytes=", 100), Ignore);
        assert_eq!(parse_range("bytes=,", 100), Ignore);
    }

    #[test]
    fn range_sets() {
        assert_eq!(
            parse_range("bytes=0-9, 20-29", 100),
            Satisfiable(vec![(0, 9), (20, 29)])
        );
        // Order kept; unsatisfiable members skipped; empty list elements allowed.
        assert_eq!(
            parse_range("bytes=-5,,200-300,0-0", 100),
            Satisfiable(vec![(95, 99), (0, 0)])
        );
        assert_eq!(parse_range("bytes=200-,300-400", 100), Unsatisfiable);
        // One bad member makes the header invalid: ignored.
        assert_eq!(parse_range("bytes=0-1,x", 100), Ignore);
        // Overlaps are served while they add up to no more than the file...
        assert_eq!(
            parse_range("bytes=0-49,25-74", 100),
            Satisfiable(vec![(0, 49), (25, 74)])
        );
        // ...and beyond that, or over MAX_RANGES, the whole file is sent.
        assert_eq!(parse_range("bytes=0-,0-", 100), Ignore);
        let many: Vec<String> = (0..=MAX_RANGES).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(
            parse_range(&format!("bytes={}", many.join(",")), 1000),
            Ignore
        );
        let most: Vec<String> = (0..MAX_RANGES).map(|i| format!("{i}-{i}")).collect();
        assert!(matches!(
            parse_range(&format!("bytes={}", most.join(",")), 1000),
            Satisfiable(r) if r.len() == MAX_RANGES
        ));
    }

    #[test]
    fn multipart_layout() {
        let m = multipart(&[(0, 1), (5, 5)], 10, "text/plain");
        assert_eq!(m.parts.len(), 2);
        let head = String::from_utf8(m.parts[1].prefix.clone()).unwrap();
        assert_eq!(
            head,
            format!(
                "\r\n--{}\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-5/10\r\n\r\n",
                m.boundary
            )
        );
        assert_eq!((m.parts[1].offset, m.parts[1].len), (5, 1));
        assert_eq!(m.tail, format!("\r\n--{}--\r\n", m.boundary).into_bytes());
        assert_ne!(m.boundary, multipart(&[(0, 1)], 10, "x/y").boundary);
    }
}
