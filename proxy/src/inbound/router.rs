//! Host and path-prefix routing to services.

use crate::config::{HostMatch, Route};
use crate::upstream::ServicePool;
use std::sync::Arc;

/// A route ready for the data path.
#[derive(Debug)]
pub struct RouteEntry {
    host: HostMatch,
    prefix: String,
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
                        label: r.path_prefix.as_str().into(),
                        pool: pool(&r.service)?,
                    })
                })
                .collect(),
        }
    }

    /// The first route matching `host` (lowercase, no port) and `path`.
    pub fn route(&self, host: &str, path: &str) -> Option<&RouteEntry> {
        self.routes
            .iter()
            .find(|r| host_matches(&r.host, host) && prefix_matches(&r.prefix, path))
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

/// The request's host, lowercase, without port, brackets or trailing dot.
pub fn normalize_host(raw: &str) -> String {
    let raw = raw.trim();
    let host = if let Some(rest) = raw.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match raw.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
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
        assert_eq!(normalize_host("API.Example.com:8080"), "api.example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("127.0.0.1"), "127.0.0.1");
    }
}
