//! Numeric IPv4 hosts in every form C resolvers (`inet_aton`) and browsers accept.
//!
//! `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1` and `127.0.1` all reach 127.0.0.1. A proxy that
//! took them for names would hand them to a resolver that dials loopback, so they must be
//! recognised as addresses and judged as such.

use super::HostError;
use std::net::Ipv4Addr;

/// Reads `host` (lowercase, trailing dot removed) as a numeric IPv4 address.
///
/// `Ok(None)` when it is not numeric: its last label is neither all digits nor a `0x` number.
/// `Err` when it is numeric but not a valid address (too many parts, a part out of range,
/// `08` in octal, ...): such hosts are neither addresses nor names.
pub(crate) fn parse_numeric(host: &str) -> Result<Option<Ipv4Addr>, HostError> {
    let last = host.rsplit('.').next().unwrap_or(host);
    if !is_numeric_label(last) {
        return Ok(None);
    }
    let mut parts = [0u64; 4];
    let mut count = 0;
    for label in host.split('.') {
        let slot = parts.get_mut(count).ok_or(HostError::InvalidIpv4)?;
        *slot = parse_part(label).ok_or(HostError::InvalidIpv4)?;
        count += 1;
    }
    // a.b.c.d: one byte each; a.b.c: the last part holds 16 bits; a.b: 24; a: all 32.
    let (leading, last) = parts[..count].split_at(count - 1);
    let last = last.first().copied().ok_or(HostError::InvalidIpv4)?;
    if leading.iter().any(|&p| p > 0xff) || last >> (8 * (4 - leading.len())) != 0 {
        return Err(HostError::InvalidIpv4);
    }
    let mut bits = last;
    for (i, p) in leading.iter().enumerate() {
        bits |= p << (24 - 8 * i);
    }
    u32::try_from(bits)
        .map(|b| Some(Ipv4Addr::from(b)))
        .map_err(|_| HostError::InvalidIpv4)
}

/// Whether a last label makes a host numeric: all digits, or a number `inet_aton` reads
/// (`0x1f`). Such a host is an IPv4 address or an error, never a name.
pub(crate) fn is_numeric_label(label: &str) -> bool {
    let all_digits = !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit());
    all_digits || parse_part(label).is_some()
}

/// One dot-separated part: `0x` hex, `0` octal or decimal, as `inet_aton` reads it (a bare `0x`
/// is zero). `None` when it is not a number; values past `u32` saturate so they stay invalid.
fn parse_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x") {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    digits.chars().try_fold(0u64, |acc, c| {
        let d = c.to_digit(radix)?;
        Some(
            acc.saturating_mul(u64::from(radix))
                .saturating_add(u64::from(d)),
        )
    })
}
