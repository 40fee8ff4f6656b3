//! The pooled client of one service: plain or TLS, HTTP/1.1 or HTTP/2 prior knowledge.

use crate::config::{Limits, ServiceConfig, UpstreamProtocol};
use crate::record::CountingBody;
use crate::server::BoxError;
use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;
use sightline_certs::rustls;
use sightline_certs::TlsError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The connector every service client uses.
pub type UpstreamConnector = HttpsConnector<RetryRefused>;

/// Pauses before each new attempt when an upstream refuses a connection: three retries within
/// 600 ms, as a load balancer's connection retries (HAProxy's `retries 3`) ride over an
/// upstream that is restarting or not yet listening. A refused connection carried no byte of
/// the request, so any method may be tried again; every other failure, a connect timeout
/// included, is final at once.
pub const REFUSED_RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(300),
];

/// The plain TCP connector, trying a refused connection again after each of
/// [`REFUSED_RETRY_DELAYS`] that ends within `budget` of the first attempt (half the request
/// timeout), so that a refused upstream is still answered 502, never 504.
#[derive(Clone, Debug)]
pub struct RetryRefused {
    inner: HttpConnector,
    budget: Duration,
}

impl tower_service::Service<Uri> for RetryRefused {
    type Response = <HttpConnector as tower_service::Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        let budget = self.budget;
        Box::pin(async move {
            let start = tokio::time::Instant::now();
            let mut delays = REFUSED_RETRY_DELAYS.iter();
            loop {
                match inner.call(uri.clone()).await {
                    Ok(io) => return Ok(io),
                    Err(e) => {
                        let e: BoxError = e.into();
                        match delays.next() {
                            Some(delay) if refused(&*e) && start.elapsed() + *delay < budget => {
                                tokio::time::sleep(*delay).await;
                            }
                            _ => return Err(e),
                        }
                    }
                }
            }
        })
    }
}

/// Whether the connection was refused (nothing listens at the address).
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The connector of a service's upstreams: TCP with the connect timeout and the retries of a
/// refused connection, then TLS when the service's upstreams speak it.
pub(super) fn connector(
    config: &ServiceConfig,
    limits: &Limits,
) -> Result<UpstreamConnector, TlsError> {
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
    let http = RetryRefused {
        inner: http,
        budget: limits.request_timeout / 2,
    };
    Ok(match config.protocol {
        UpstreamProtocol::Http1 => builder.enable_http1().wrap_connector(http),
        UpstreamProtocol::Http2 => builder.enable_http2().wrap_connector(http),
    })
}

/// The shared client of a service: every call to an HTTP/2 upstream, and HTTP/1 upgrades
/// (whose connections leave HTTP after the 101). Plain HTTP/1 calls go through the
/// connections of [`crate::h1pool`] instead.
pub(super) fn shared(
    config: &ServiceConfig,
    limits: &Limits,
    connector: UpstreamConnector,
) -> Client<UpstreamConnector, CountingBody> {
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(limits.idle_timeout)
        .pool_max_idle_per_host(limits.upstream_max_idle)
        .http2_only(config.protocol == UpstreamProtocol::Http2)
        .build(connector)
}
