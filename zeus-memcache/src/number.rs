//! Number parsing with the C library semantics memcached relies on (`strtol`, `strtoul`,
//! `strtoull` followed by its `safe_strto*` checks), so odd inputs get memcached's answers:
//! leading white space and a sign are accepted, anything but white space after the digits is
//! refused, 32-bit results are truncated from the 64-bit parse as memcached's casts do.

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// `strtoull`-style parse: (negative sign seen, magnitude, overflowed, rest) or None if no digits.
fn digits(s: &[u8]) -> Option<(bool, u64, bool, &[u8])> {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut over = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(s[i] - b'0')))
        {
            Some(x) => v = x,
            None => over = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((neg, v, over, &s[i..]))
}

fn tail_ok(rest: &[u8]) -> bool {
    rest.first().is_none_or(|b| is_space(*b))
}

/// memcached's `safe_strtoull`.
pub fn strtoull(s: &[u8]) -> Option<u64> {
    let (neg, v, over, rest) = digits(s)?;
    if over || !tail_ok(rest) {
        return None;
    }
    let v = if neg { v.wrapping_neg() } else { v };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// memcached's `safe_strtoul` into a `uint32_t` (the 64-bit result is truncated).
pub fn strtoul32(s: &[u8]) -> Option<u32> {
    strtoull(s).map(|v| v as u32)
}

/// memcached's `safe_strtol` into an `int32_t` (the 64-bit result is truncated).
pub fn strtol32(s: &[u8]) -> Option<i32> {
    let (neg, v, over, rest) = digits(s)?;
    if !tail_ok(rest) {
        return None;
    }
    let limit = if neg { 1u64 << 63 } else { (1u64 << 63) - 1 };
    if over || v > limit {
        return None;
    }
    let v = if neg {
        (v as i64).wrapping_neg()
    } else {
        v as i64
    };
    Some(v as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_memcached() {
        assert_eq!(strtoull(b"12"), Some(12));
        assert_eq!(strtoull(b" 12"), Some(12));
        assert_eq!(strtoull(b"12\r\n"), Some(12));
        assert_eq!(strtoull(b"12a"), None);
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b"-5"), None);
        assert_eq!(strtoull(b""), None);
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoul32(b"4294967297"), Some(1));
        assert_eq!(strtol32(b"-1"), Some(-1));
        assert_eq!(strtol32(b"2147483648"), Some(i32::MIN));
        assert_eq!(strtol32(b"abc"), None);
        assert_eq!(strtol32(b"9223372036854775808"), None);
    }
}
