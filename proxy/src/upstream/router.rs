//! Host and path-prefix routing to services.

use super::ServicePool;
use crate::config::{HostMatch, Route};
use std::sync::Arc;

/// A route ready for the data path.
#[derive(Debug)]
pub struct RouteEntry {
    host: HostMatch,
    prefix: String,
    /// Paths are matched (and forwarded) lowercased.
    pub ignore_case: bool,
    /// The route's label in records (its prefix until route templates exist).
    pub label: Arc<str>,
    /// The service it leads to.
    pub pool: Arc<ServicePool>,
}

/// Routes, most specific first.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<RouteEntry>,
}

impl Router {
    /// Builds a router; `routes` must already be sorted most specific first, and every service
    /// must be found by `pool`.
    pub fn new(routes: &[Route], pool: impl Fn(&str) -> Option<Arc<ServicePool>>) -> Self {
        Router {
            routes: routes
                .iter()
                .filter_map(|r| {
                    Some(RouteEntry {
                        host: r.host.clone(),
                        prefix: r.path_prefix.clone(),
                        ignore_case: r.ignore_case,
                        label: r.path_prefix.as_str().into(),
                        pool: pool(&r.service)?,
                    })
                })
                .collect(),
        }
    }

    /// The first route matching `host` (lowercase, no port) and the canonical `path`. A route
    /// with `ignore_case` compares the path lowercased; [`RouteEntry::path`] gives the path
    /// that route's service, protections and templates then see.
    pub fn route(&self, host: &str, path: &str) -> Option<&RouteEntry> {
        let mut folded: Option<String> = None;
        self.routes.iter().find(|r| {
            if !host_matches(&r.host, host) {
                return false;
            }
            if r.ignore_case {
                let lower = folded.get_or_insert_with(|| path.to_ascii_lowercase());
                prefix_matches(&r.prefix, lower)
            } else {
                prefix_matches(&r.prefix, path)
            }
        })
    }
}

impl RouteEntry {
    /// The canonical path as this route sees it: lowercased for an `ignore_case` route.
    pub fn path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        if self.ignore_case && path.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(path.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(path)
        }
    }
}

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
}

fn host_matches(m: &HostMatch, host: &str) -> bool {
    match m {
        HostMatch::Any => true,
        HostMatch::Exact(h) => h == host,
        HostMatch::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
    }
}

/// `/api` matches `/api`, `/api/` and `/api/x`, never `/apix`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/v1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api/", "/api/x"));
        assert!(!prefix_matches("/api/", "/api"));
    }

    #[test]
    fn hosts() {
        assert!(host_matches(
            &HostMatch::Suffix(".example.com".into()),
            "a.example.com"
        ));
        assert!(!host_matches(
            &HostMatch::Suffix(".example.com".into()),
            "example.com"
        ));
        assert!(!host_matches(
            &HostMatch::Suffix(".example.com".into()),
            "evilexample.com"
        ));
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
