//! The authority a request names: where it is read from and how it is parsed, strictly, once.

use http::header::{self, HeaderMap, HeaderValue};
use http::Uri;

/// The authority a request asked for, parsed strictly once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Authority {
    /// The host as routes and records compare it: lowercase, no port, brackets or trailing
    /// dot; IDNs as punycode, numeric IPv4 forms as the address. Empty when the request named
    /// none (HTTP/1.0 without `Host`, HTTP/2 without `:authority`).
    pub host: String,
    /// What `Host` and `X-Forwarded-Host` carry upstream: the normalised host, IPv6 in
    /// brackets, and the port when the client gave one.
    pub header: String,
}

/// Why a request's authority was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAuthority;

impl Authority {
    /// Parses a `Host` value or `:authority`: a host and an optional port, nothing else.
    pub fn parse(raw: &str) -> Result<Authority, sightline_policy::HostError> {
        if let Some(a) = Authority::already_normal(raw) {
            return Ok(a);
        }
        let (host, port) = sightline_policy::parse_host_port(raw)?;
        let shown = host.to_string();
        let header = match port {
            Some(p) => format!("{shown}:{p}"),
            None => shown,
        };
        let host = match host {
            sightline_policy::Host::Ip(ip) => ip.to_string(),
            sightline_policy::Host::Name(n) => n,
        };
        Ok(Authority { host, header })
    }

    /// The common case without the general parser: an authority already in the form the
    /// parser would give (a lowercase ASCII name whose last label is not numeric, or a
    /// dotted-quad IPv4 address as `Ipv4Addr` writes it, then an optional port as the parser
    /// reads it) is its own normal form, so host and header are slices of it. `None` for
    /// anything else (upper case, IDNs, IPv6, numeric forms, a trailing dot, blanks, bad
    /// ports), which the general parser judges.
    fn already_normal(raw: &str) -> Option<Authority> {
        // One pass over the bytes each: this runs for every request.
        let colon = raw.bytes().position(|c| c == b':');
        let host = &raw[..colon.unwrap_or(raw.len())];
        if let Some(c) = colon {
            let port = &raw.as_bytes()[c + 1..];
            if port.is_empty() || port.len() > 5 || port[0] == b'0' {
                return None;
            }
            let mut value = 0u32;
            for &d in port {
                if !d.is_ascii_digit() {
                    return None;
                }
                value = value * 10 + u32::from(d - b'0');
            }
            if value > u32::from(u16::MAX) {
                return None;
            }
        }
        if host.len() > 253 {
            return None;
        }
        // One pass over the host: its labels, and whether each is a decimal octet as
        // `Ipv4Addr` writes it (no leading zero, at most 255), for a host that may be numeric.
        let (mut labels, mut label_len, mut last_start) = (1, 0, 0);
        let (mut octets, mut octet, mut leading_zero) = (true, 0u32, false);
        for (i, &c) in host.as_bytes().iter().enumerate() {
            match c {
                b'0'..=b'9' => {
                    octets &= !leading_zero;
                    leading_zero = label_len == 0 && c == b'0';
                    octet = (octet * 10 + u32::from(c - b'0')).min(256);
                    label_len += 1;
                }
                b'a'..=b'z' | b'-' | b'_' => {
                    octets = false;
                    label_len += 1;
                }
                b'.' if label_len > 0 => {
                    octets &= octet <= 255;
                    (labels, label_len, last_start) = (labels + 1, 0, i + 1);
                    (octet, leading_zero) = (0, false);
                }
                _ => return None,
            }
            if label_len > 63 {
                return None;
            }
        }
        // Also refuses an empty host, an empty last label and a trailing dot.
        if label_len == 0 {
            return None;
        }
        // A last label that starts with a digit may make the host a numeric IPv4 form: only
        // the canonical dotted quad is taken here.
        let quad = labels == 4 && octets && octet <= 255;
        if host.as_bytes()[last_start].is_ascii_digit() && !quad {
            return None;
        }
        Some(Authority {
            host: host.to_owned(),
            header: raw.to_owned(),
        })
    }

    /// The authority of a request: the URI's (HTTP/2 `:authority`, absolute-form), else the
    /// `Host` header; none at all (HTTP/1.0 without `Host`) is the empty authority. A `Host`
    /// that is not text or does not parse is refused.
    pub fn of_request(uri: &Uri, headers: &HeaderMap) -> Result<Authority, BadAuthority> {
        // One lookup of `Host` serves both questions (whether one was given, and its text).
        let host = headers.get(header::HOST);
        let given = uri.authority().is_some() || host.is_some();
        match raw_of(uri, host) {
            Some(raw) => Authority::parse(raw).map_err(|_| BadAuthority),
            None if given => Err(BadAuthority),
            None => Ok(Authority::default()),
        }
    }
}

/// The authority as the client wrote it: the URI's, else the `Host` header (when it is text).
pub fn raw_authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    raw_of(uri, headers.get(header::HOST))
}

/// The URI's authority, else `host` (the first `Host` field) when it is text.
fn raw_of<'a>(uri: &'a Uri, host: Option<&'a HeaderValue>) -> Option<&'a str> {
    match uri.authority() {
        Some(a) => Some(a.as_str()),
        None => host?.to_str().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_parse_strictly() {
        let a = |raw: &str| Authority::parse(raw).map(|a| (a.host, a.header));
        let ok = |h: &str, v: &str| Ok((h.to_owned(), v.to_owned()));
        assert_eq!(
            a("API.Example.com:8080"),
            ok("api.example.com", "api.example.com:8080")
        );
        assert_eq!(a("example.com."), ok("example.com", "example.com"));
        assert_eq!(a("[::1]:8080"), ok("::1", "[::1]:8080"));
        assert_eq!(a("127.0.0.1"), ok("127.0.0.1", "127.0.0.1"));
        assert_eq!(a("0x7f.1:80"), ok("127.0.0.1", "127.0.0.1:80"));
        assert_eq!(
            a("api.example.com:08"),
            ok("api.example.com", "api.example.com:8")
        );
        assert_eq!(a("010.0.0.1"), ok("8.0.0.1", "8.0.0.1"));
        for bad in [
            "evil.com/.example.com",
            "evil.com#.example.com",
            "a@x.example.com",
            "x.example.com:",
            "",
        ] {
            assert!(a(bad).is_err(), "{bad:?}");
        }
    }

    /// The short path for authorities already in normal form gives exactly what the general
    /// parser gives, and leaves everything else to it.
    #[test]
    fn the_short_path_agrees_with_the_general_parser() {
        let general = |raw: &str| {
            let (host, port) = sightline_policy::parse_host_port(raw).ok()?;
            let header = match port {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            };
            let host = match host {
                sightline_policy::Host::Ip(ip) => ip.to_string(),
                sightline_policy::Host::Name(n) => n,
            };
            Some((host, header))
        };
        let hosts = [
            "example.com",
            "api.example.com",
            "a",
            "a-b_c.d",
            "127.0.0.1",
            "10.0.0.255",
            "255.255.255.255",
            "1.2.3.256",
            "1.2.3.04",
            "1.2.3.0",
            "1.2.a.4",
            "1.2.3.4a",
            "0.0.0.0",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "0x7f.1",
            "127.1",
            "2130706433",
            "example.123",
            "example.0x1",
            "x.1a",
            "1a.example",
            "ex--ample.com",
            "Example.com",
            "example.com.",
            ".example.com",
            "a..b",
            "",
            " example.com",
            "example.com ",
            "exa mple.com",
            "bücher.de",
            "[::1]",
            "::1",
            "a@b",
            "a/b",
            &"a".repeat(63),
            &"a".repeat(64),
            &format!("{}.com", "a.".repeat(125)),
            &format!("{}.com", "a.".repeat(126)),
        ];
        let ports = [
            "", ":80", ":8080", ":65535", ":65536", ":0", ":00", ":080", ":", ":8a", ":123456",
        ];
        let mut short = 0;
        for h in hosts {
            for p in ports {
                let raw = format!("{h}{p}");
                if let Some(a) = Authority::already_normal(&raw) {
                    short += 1;
                    assert_eq!(general(&raw), Some((a.host, a.header)), "{raw:?}");
                }
                let parsed = Authority::parse(&raw).ok().map(|a| (a.host, a.header));
                assert_eq!(parsed, general(&raw), "{raw:?}");
            }
        }
        assert!(
            short >= 40,
            "the short path takes the common forms ({short})"
        );
    }
}
