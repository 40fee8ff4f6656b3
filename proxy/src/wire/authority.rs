//! The authority a request names: where it is read from and how it is parsed, strictly, once.

use http::header::{self, HeaderMap};
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

    /// The authority of a request: the URI's (HTTP/2 `:authority`, absolute-form), else the
    /// `Host` header; none at all (HTTP/1.0 without `Host`) is the empty authority. A `Host`
    /// that is not text or does not parse is refused.
    pub fn of_request(uri: &Uri, headers: &HeaderMap) -> Result<Authority, BadAuthority> {
        let given = uri.authority().is_some() || headers.contains_key(header::HOST);
        match raw_authority(uri, headers) {
            Some(raw) => Authority::parse(raw).map_err(|_| BadAuthority),
            None if given => Err(BadAuthority),
            None => Ok(Authority::default()),
        }
    }
}

/// The authority as the client wrote it: the URI's, else the `Host` header (when it is text).
pub fn raw_authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    match uri.authority() {
        Some(a) => Some(a.as_str()),
        None => headers.get(header::HOST)?.to_str().ok(),
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
}
