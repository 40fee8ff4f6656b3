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
    }
}
