//! Request bodies: `Content-Length` bodies are taken as they are, chunked ones are decoded
//! here (RFC 9112 section 7.1), with the body limit enforced on the decoded size and on the
//! chunk sizes announced, before the bytes arrive.
//!
//! The decoder is stateless: it decodes from the start of the body each time more bytes
//! arrive. Bodies are bounded by `max_body_bytes`, so this stays cheap, and a stateless
//! decoder cannot get out of step with the buffer.

use crate::error::HttpError;

/// A complete chunked body: the decoded bytes and how many buffer bytes it used.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The body.
    pub body: Vec<u8>,
    /// Bytes consumed from the buffer (through the final CRLF after the trailers).
    pub used: usize,
}

/// Most bytes of chunked framing (size lines, extensions, CRLFs, trailers) in one body:
/// without it, a client could send one-byte chunks with long extensions, or endless
/// trailers, and make the connection buffer far more than `limit` while the body is
/// incomplete.
pub const MAX_FRAMING: usize = 32 * 1024;
/// Longest unterminated chunk-size or trailer line.
pub const MAX_LINE: usize = 4096;

/// Decodes a chunked body at the start of `buf`; `Ok(None)` while it is incomplete.
///
/// Bound: `Ok(None)` only while `buf` holds at most `limit + MAX_FRAMING + MAX_LINE + 2`
/// bytes, so a connection's buffer for a pending chunked body is bounded.
pub fn decode_chunked(buf: &[u8], limit: u64) -> Result<Option<Decoded>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        if pos - body.len() > MAX_FRAMING {
            return Err(HttpError::BadRequest("chunked framing too large"));
        }
        let Some(line_end) = find_crlf(&buf[pos..]) else {
            return guard_line(&buf[pos..]);
        };
        if line_end > MAX_LINE {
            // The same limit as on an unterminated line: how the bytes arrived must not matter.
            return Err(HttpError::BadRequest("chunk line too long"));
        }
        let line = &buf[pos..pos + line_end];
        let size = chunk_size(line)?;
        pos += line_end + 2;
        if size == 0 {
            return trailers(buf, pos, body);
        }
        if body.len() as u64 + size > limit {
            return Err(HttpError::PayloadTooLarge { limit });
        }
        let size = size as usize; // fits: bounded by `limit`, itself held in memory
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(HttpError::BadRequest("chunk not followed by CRLF"));
        }
        pos += size + 2;
    }
}

/// Skips trailer fields up to the empty line that ends the message.
fn trailers(buf: &[u8], mut pos: usize, body: Vec<u8>) -> Result<Option<Decoded>, HttpError> {
    loop {
        if pos - body.len() > MAX_FRAMING {
            return Err(HttpError::BadRequest("chunked framing too large"));
        }
        let Some(end) = find_crlf(&buf[pos..]) else {
            return guard_line(&buf[pos..]);
        };
        if end > MAX_LINE {
            return Err(HttpError::BadRequest("trailer line too long"));
        }
        pos += end + 2;
        if end == 0 {
            return Ok(Some(Decoded { body, used: pos }));
        }
    }
}

/// An unterminated line may not grow without bound.
fn guard_line(rest: &[u8]) -> Result<Option<Decoded>, HttpError> {
    if rest.len() > MAX_LINE {
        return Err(HttpError::BadRequest("chunk line too long"));
    }
    Ok(None)
}

/// `1*HEXDIG [ chunk-ext ]`; extensions are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let hex_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[hex_end..];
    if hex_end == 0 || hex_end > 15 || !(rest.is_empty() || matches!(rest[0], b';' | b' ' | b'\t'))
    {
        return Err(HttpError::BadRequest("invalid chunk size"));
    }
    let hex = std::str::from_utf8(&line[..hex_end]).expect("invariant: ASCII hex digits");
    u64::from_str_radix(hex, 16).map_err(|_| HttpError::BadRequest("invalid chunk size"))
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let b = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let d = decode_chunked(b, 100).unwrap().unwrap();
        assert_eq!(d.body, b"Wikipedia");
        assert_eq!(&b[d.used..], b"NEXT");
    }

    #[test]
    fn incomplete_bodies_wait_and_bad_ones_fail() {
        let full = b"4\r\nWiki\r\n0\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(decode_chunked(&full[..n], 100).unwrap(), None, "prefix {n}");
        }
        assert_eq!(decode_chunked(b"zz\r\n", 100).unwrap_err().status(), 400);
        assert_eq!(
            decode_chunked(b"4\r\nWikiXX", 100).unwrap_err().status(),
            400
        );
        assert_eq!(
            decode_chunked(b"ffffffff\r\n", 100).unwrap_err().status(),
            413
        );
        assert_eq!(
            decode_chunked(b"fffffffffffffffffff\r\n", 100)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn framing_overhead_is_bounded() {
        // One-byte chunks with long extensions: refused once the framing passes MAX_FRAMING.
        let ext = format!("1;{}\r\nx\r\n", "e".repeat(1000));
        let many = ext.repeat(MAX_FRAMING / 1000 + 2);
        assert_eq!(
            decode_chunked(many.as_bytes(), 1 << 20)
                .unwrap_err()
                .status(),
            400
        );
        let trailers = format!("0\r\n{}", "T: v\r\n".repeat(MAX_FRAMING / 6 + 2));
        assert_eq!(
            decode_chunked(trailers.as_bytes(), 100)
                .unwrap_err()
                .status(),
            400
        );
        // Below the bound, the same shapes wait or decode.
        let few = format!("{}0\r\n\r\n", ext.repeat(10));
        assert_eq!(
            decode_chunked(few.as_bytes(), 100)
                .unwrap()
                .unwrap()
                .body
                .len(),
            10
        );
    }
}
