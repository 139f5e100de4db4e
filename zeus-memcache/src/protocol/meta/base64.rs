//! Base64 for `b` keys, with the leniency of memcached's decoder: characters outside the
//! alphabet are skipped, the rest must come in groups of four, and decoding stops at the first
//! group carrying padding. Encoding is standard, padded.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

/// Decodes `src`; `None` where memcached's decoder returns 0 (nothing valid, a partial group,
/// three or more padding characters, or an empty result).
pub fn decode(src: &[u8]) -> Option<Vec<u8>> {
    let valid = src.iter().filter(|b| sextet(**b).is_some()).count();
    if valid == 0 || !valid.is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(valid / 4 * 3);
    let mut group = [0u8; 4];
    let mut n = 0;
    let mut pad = 0;
    for &b in src {
        let Some(v) = sextet(b) else { continue };
        if b == b'=' {
            pad += 1;
        }
        group[n] = v;
        n += 1;
        if n == 4 {
            out.push((group[0] << 2) | (group[1] >> 4));
            out.push((group[1] << 4) | (group[2] >> 2));
            out.push((group[2] << 6) | group[3]);
            n = 0;
            if pad > 0 {
                if pad > 2 {
                    return None;
                }
                out.truncate(out.len() - pad);
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Appends the padded base64 form of `src`.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    for c in src.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let idx = [
            b[0] >> 2,
            ((b[0] & 3) << 4) | (b[1] >> 4),
            ((b[1] & 15) << 2) | (b[2] >> 6),
            b[2] & 63,
        ];
        for (i, x) in idx.iter().enumerate() {
            out.push(if i <= c.len() {
                ALPHABET[*x as usize]
            } else {
                b'='
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        let mut v = Vec::new();
        encode(s, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn round_trips() {
        for s in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\r\n key"] {
            assert_eq!(decode(enc(s).as_bytes()).unwrap(), s);
        }
        assert_eq!(enc(b"foo"), "Zm9v");
        assert_eq!(enc(b"fo"), "Zm8=");
        assert_eq!(enc(b"f"), "Zg==");
    }

    #[test]
    fn lenient_like_memcached() {
        assert_eq!(decode(b"Zm9v!").unwrap(), b"foo");
        assert_eq!(decode(b"Zm9"), None);
        assert_eq!(decode(b"!!!!"), None);
        assert_eq!(decode(b"Z==="), None);
        assert_eq!(decode(b"Zg==Zm9v").unwrap(), b"f");
    }
}
