//! The pooled client of one service: plain or TLS, HTTP/1.1 or HTTP/2 prior knowledge.

use crate::config::{Limits, ServiceConfig, UpstreamProtocol};
use crate::record::CountingBody;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;
use sightline_certs::rustls;
use sightline_certs::TlsError;
use std::sync::Arc;

/// Idle connections kept per upstream. A burst of concurrent calls opens as many
/// connections as it needs; once it is over, those past this many are closed instead of
/// each holding its buffers and task until `limits.idle_timeout`.
pub const MAX_IDLE_PER_UPSTREAM: usize = 256;

/// The connector every service client uses.
pub type UpstreamConnector = HttpsConnector<HttpConnector>;

pub(super) fn build(
    config: &ServiceConfig,
    limits: &Limits,
) -> Result<Client<UpstreamConnector, CountingBody>, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(limits.upstream_connect_timeout));

    let tls = match &config.tls {
        Some(t) => sightline_certs::client_config(t.ca.as_deref(), &[])?,
        // Plain upstreams never start TLS, but the connector type wants a config.
        None => rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth(),
    };
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match config.tls.as_ref().and_then(|t| t.server_name.clone()) {
        Some(name) => {
            let name = ServerName::try_from(name).map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    let connector = match config.protocol {
        UpstreamProtocol::Http1 => builder.enable_http1().wrap_connector(http),
        UpstreamProtocol::Http2 => builder.enable_http2().wrap_connector(http),
    };
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(limits.idle_timeout)
        .pool_max_idle_per_host(MAX_IDLE_PER_UPSTREAM)
        .http2_only(config.protocol == UpstreamProtocol::Http2)
        .build(connector))
}
