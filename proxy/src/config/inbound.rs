//! The `inbound:` section: the reverse-proxy listener, how request paths are canonicalised,
//! and the routes from host and path prefix to a service.

use super::context::Convert;
use super::file::{EscapedSlashesFile, InboundFile, PathParamsFile, PathsFile, RouteFile};
use super::{defaults, tls, InboundTls};
use std::net::SocketAddr;

/// The inbound listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS termination, when configured.
    pub tls: Option<InboundTls>,
    /// How request paths are canonicalised before routing and the client protections.
    pub paths: PathRules,
    /// Routes, tried most specific first (exact host before wildcard before any; longer prefix first).
    pub routes: Vec<Route>,
    /// Peers that must open each connection with a PROXY protocol header naming the client
    /// (`inbound.proxy_protocol.from`); empty when off.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
}

/// How request paths are canonicalised: the one form routing, the client protections, route
/// templates and the upstream all see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRules {
    /// `//a///b` is `/a/b`.
    pub merge_slashes: bool,
    /// What happens to `;` parameters in a segment (`/login;jsessionid=1`).
    pub params: PathParams,
    /// What happens to `%2F` and `%5C` (an encoded `/` or `\`).
    pub escaped_slashes: EscapedSlashes,
}

impl Default for PathRules {
    fn default() -> Self {
        PathRules {
            merge_slashes: true,
            params: PathParams::Strip,
            escaped_slashes: EscapedSlashes::Reject,
        }
    }
}

/// `;` parameters in path segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathParams {
    /// Removed from every segment (`/login;a=1/x` is `/login/x`).
    Strip,
    /// Left as part of the segment.
    Keep,
    /// A path with a `;` is answered 400.
    Reject,
}

/// `%2F` and `%5C` in a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Answered 400.
    Reject,
    /// Decoded to `/` (both), then the path is canonicalised as usual.
    Decode,
    /// Left encoded: a segment with an encoded slash stays one segment.
    Keep,
}

/// How a route matches the request host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostMatch {
    /// Exactly this host (lowercase, without port).
    Exact(String),
    /// Any host ending in this suffix (stored with its leading dot: `.example.com`).
    Suffix(String),
    /// Any host.
    Any,
}

/// One route: host and path prefix to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The host to match.
    pub host: HostMatch,
    /// The path prefix; matches whole segments (`/api` matches `/api/x`, not `/apix`).
    pub path_prefix: String,
    /// The service name (a key of `services`).
    pub service: String,
    /// The service treats paths case-insensitively: the path is lowercased (ASCII) for
    /// matching the route, for the client protections and towards the upstream.
    pub ignore_case: bool,
}

/// Checks the section; routes must name services in `cx.services`.
pub(super) fn convert(raw: InboundFile, cx: &mut Convert<'_>) -> InboundConfig {
    let tls = raw.tls.map(|t| tls::convert(t, "inbound.tls", cx));
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let route = route(r, i, cx);
        if let Some(j) = routes
            .iter()
            .position(|x: &Route| x.host == route.host && x.path_prefix == route.path_prefix)
        {
            cx.issue(
                &format!("inbound.routes[{i}]"),
                format!("duplicates inbound.routes[{j}] (same host and path_prefix)"),
            );
        }
        routes.push(route);
    }
    let paths = paths(&raw.paths);
    if raw
        .proxy_protocol
        .as_ref()
        .is_some_and(|p| p.from.is_empty())
    {
        cx.issue(
            "inbound.proxy_protocol.from",
            "name the networks of the load balancers that send the header",
        );
    }
    // Most specific first: exact hosts, then suffixes (longest first), then any; longer prefixes first.
    routes.sort_by(|a, b| {
        let rank = |h: &HostMatch| match h {
            HostMatch::Exact(_) => (0, 0),
            HostMatch::Suffix(s) => (1, usize::MAX - s.len()),
            HostMatch::Any => (2, 0),
        };
        rank(&a.host)
            .cmp(&rank(&b.host))
            .then(b.path_prefix.len().cmp(&a.path_prefix.len()))
    });
    InboundConfig {
        listen: raw.listen.unwrap_or(defaults::INBOUND),
        tls,
        paths,
        routes,
        proxy_protocol_from: raw
            .proxy_protocol
            .map(|p| p.from.into_iter().map(|n| n.trunc()).collect())
            .unwrap_or_default(),
    }
}

/// Checks `inbound.routes[i]`.
fn route(r: RouteFile, i: usize, cx: &mut Convert<'_>) -> Route {
    if !cx.services.contains(&r.service) {
        let known = cx.services.join(", ");
        cx.issue(
            &format!("inbound.routes[{i}].service"),
            format!("unknown service {:?} (defined: {known})", r.service),
        );
    }
    let host = match r.host.as_deref().map(str::trim) {
        None | Some("") | Some("*") => HostMatch::Any,
        Some(h) => match parse_host_match(h) {
            Some(m) => m,
            None => {
                cx.issue(
                    &format!("inbound.routes[{i}].host"),
                    format!("invalid host pattern {h:?}"),
                );
                HostMatch::Any
            }
        },
    };
    let path_prefix = if r.ignore_case {
        r.path_prefix.0.to_ascii_lowercase()
    } else {
        r.path_prefix.0
    };
    Route {
        host,
        path_prefix,
        service: r.service,
        ignore_case: r.ignore_case,
    }
}

fn paths(p: &PathsFile) -> PathRules {
    PathRules {
        merge_slashes: p.merge_slashes.unwrap_or(true),
        params: match p.path_params {
            None | Some(PathParamsFile::Strip) => PathParams::Strip,
            Some(PathParamsFile::Keep) => PathParams::Keep,
            Some(PathParamsFile::Reject) => PathParams::Reject,
        },
        escaped_slashes: match p.escaped_slashes {
            None | Some(EscapedSlashesFile::Reject) => EscapedSlashes::Reject,
            Some(EscapedSlashesFile::Decode) => EscapedSlashes::Decode,
            Some(EscapedSlashesFile::Keep) => EscapedSlashes::Keep,
        },
    }
}

fn parse_host_match(h: &str) -> Option<HostMatch> {
    let h = h.to_ascii_lowercase();
    let h = h.trim_end_matches('.');
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if let Some(rest) = h.strip_prefix("*.") {
        label_ok(rest).then(|| HostMatch::Suffix(format!(".{rest}")))
    } else if h.parse::<std::net::IpAddr>().is_ok() || label_ok(h) {
        Some(HostMatch::Exact(h.to_owned()))
    } else {
        None
    }
}
