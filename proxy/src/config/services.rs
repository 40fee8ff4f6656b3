//! The `services:` section: named services, their upstreams, protocol, TLS and ejection.

use super::context::{valid_name, Convert, NAME_RULE};
use super::file::{ProtocolFile, ServiceFile};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The protocol spoken to a service's upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge over plain TCP, ALPN over TLS).
    Http2,
}

/// A named service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `host:port` of each upstream.
    pub upstreams: Vec<String>,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: UpstreamProtocol,
    /// TLS to the upstreams, when configured.
    pub tls: Option<UpstreamTls>,
    /// Passive ejection of failing upstreams.
    pub ejection: Ejection,
    /// An OpenAPI 3 document: its paths are the service's route templates, and calls outside
    /// it are flagged as shadow endpoints.
    pub openapi: Option<PathBuf>,
}

/// TLS to upstreams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTls {
    /// CA to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Name to verify (and send as SNI) instead of the upstream's host.
    pub server_name: Option<String>,
}

/// When to take a failing upstream out of rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ejection {
    /// Consecutive gateway failures (connect errors, timeouts, 502/503/504) before ejection.
    pub consecutive_failures: u32,
    /// How long an ejected upstream stays out.
    pub duration: Duration,
}

/// Checks the section.
pub(super) fn convert(
    raw: BTreeMap<String, ServiceFile>,
    cx: &mut Convert<'_>,
) -> BTreeMap<String, ServiceConfig> {
    let mut services = BTreeMap::new();
    for (name, s) in raw {
        let service = service(&name, s, cx);
        services.insert(name, service);
    }
    services
}

/// Checks `services.<name>`.
fn service(name: &str, s: ServiceFile, cx: &mut Convert<'_>) -> ServiceConfig {
    let key = format!("services.{name}");
    if !valid_name(name) {
        cx.issue(&key, NAME_RULE);
    }
    if s.upstreams.is_empty() {
        cx.issue(
            &format!("{key}.upstreams"),
            "at least one upstream is required",
        );
    }
    let ej = s.ejection.as_ref();
    let ejection = Ejection {
        consecutive_failures: ej.and_then(|e| e.consecutive_failures).unwrap_or(5),
        duration: ej
            .and_then(|e| e.duration)
            .map_or(Duration::from_secs(30), |d| d.0),
    };
    if ejection.consecutive_failures == 0 {
        cx.issue(
            &format!("{key}.ejection.consecutive_failures"),
            "must be at least 1",
        );
    }
    ServiceConfig {
        upstreams: s.upstreams.into_iter().map(|a| a.0).collect(),
        protocol: match s.protocol {
            ProtocolFile::Http1 => UpstreamProtocol::Http1,
            ProtocolFile::Http2 => UpstreamProtocol::Http2,
        },
        tls: s.tls.map(|t| UpstreamTls {
            ca: t.ca.map(|p| cx.resolve(p)),
            server_name: t.server_name,
        }),
        ejection,
        openapi: s.openapi.map(|p| cx.resolve(p)),
    }
}
