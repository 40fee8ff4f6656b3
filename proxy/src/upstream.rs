//! A service's upstreams: the [`router`] that picks the service by host and path prefix, round
//! robin over the upstreams not ejected, passive ejection of an upstream that keeps failing, and
//! the pooled HTTP client that talks to them.

mod client;
pub mod relay;
pub mod router;

use crate::config::Limits;
use crate::config::{Ejection, ServiceConfig, UpstreamProtocol};
use crate::errors::{Health, ProxyError};
use crate::record::{
    BodyLimitExceeded, ClientBodyFailed, ClientBodyTimeout, ClientSending, Counters, CountingBody,
    ServiceCounters,
};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use client::{UpstreamConnector, REFUSED_RETRY_DELAYS};

/// One upstream address of a service.
#[derive(Debug)]
pub struct Upstream {
    /// `host:port`.
    pub authority: Arc<str>,
    failures: AtomicU32,
    /// Milliseconds since the pool's epoch until which the upstream is out; 0 when in.
    ejected_until: AtomicU64,
}

/// The upstreams of one service and the client that reaches them.
pub struct ServicePool {
    /// The service's name.
    pub name: Arc<str>,
    /// Its counters (inbound direction).
    pub counters: Arc<ServiceCounters>,
    upstreams: Vec<Upstream>,
    next: AtomicUsize,
    ejection: Ejection,
    epoch: Instant,
    scheme: http::uri::Scheme,
    protocol: UpstreamProtocol,
    client: Client<UpstreamConnector, CountingBody>,
    counters_all: Arc<Counters>,
}

impl std::fmt::Debug for ServicePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePool")
            .field("name", &self.name)
            .field("upstreams", &self.upstreams)
            .finish_non_exhaustive()
    }
}

impl ServicePool {
    /// Builds the pool and its client (loading any TLS material).
    pub fn new(
        name: &str,
        config: &ServiceConfig,
        limits: &Limits,
        counters: Arc<ServiceCounters>,
        all: Arc<Counters>,
    ) -> Result<Self, sightline_certs::TlsError> {
        let client = client::build(config, limits)?;
        Ok(ServicePool {
            name: name.into(),
            counters,
            upstreams: config
                .upstreams
                .iter()
                .map(|a| Upstream {
                    authority: a.as_str().into(),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            ejection: config.ejection,
            epoch: Instant::now(),
            scheme: if config.tls.is_some() {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            protocol: config.protocol,
            client,
            counters_all: all,
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The next upstream in round-robin order that is not ejected.
    pub fn pick(&self) -> Result<&Upstream, ProxyError> {
        let n = self.upstreams.len();
        let start = self.next.fetch_add(1, Relaxed);
        let now = self.now_ms();
        (0..n)
            .map(|i| &self.upstreams[(start + i) % n])
            .find(|u| u.ejected_until.load(Relaxed) <= now)
            .ok_or_else(|| ProxyError::NoHealthyUpstream(self.name.to_string()))
    }

    /// Records the outcome of a call to `upstream`; enough consecutive failures of its own
    /// eject it. A call that failed for another reason (the client's, the proxy's) neither
    /// counts nor resets the count, so no client can take an upstream out of rotation.
    pub fn report(&self, upstream: &Upstream, health: Health) {
        match health {
            Health::Answered => {
                upstream.failures.store(0, Relaxed);
                return;
            }
            Health::NotJudged => return,
            Health::Failed => {}
        }
        let failures = upstream.failures.fetch_add(1, Relaxed) + 1;
        if failures >= self.ejection.consecutive_failures {
            upstream.failures.store(0, Relaxed);
            let until = self.now_ms() + self.ejection.duration.as_millis() as u64;
            upstream.ejected_until.store(until.max(1), Relaxed);
            self.counters_all.upstream_ejections.fetch_add(1, Relaxed);
            tracing::warn!(
                service = %self.name,
                upstream = %upstream.authority,
                failures,
                for_secs = self.ejection.duration.as_secs(),
                "upstream ejected after consecutive failures"
            );
        }
    }

    /// Upstreams currently in rotation.
    pub fn healthy(&self) -> usize {
        let now = self.now_ms();
        self.upstreams
            .iter()
            .filter(|u| u.ejected_until.load(Relaxed) <= now)
            .count()
    }

    /// The URI to send to `upstream` for a request whose path and query are `pq`.
    pub fn uri(&self, upstream: &Upstream, pq: &str) -> Result<http::Uri, ProxyError> {
        http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(&*upstream.authority)
            .path_and_query(pq)
            .build()
            .map_err(|_| ProxyError::BadRequest("request target cannot be forwarded"))
    }

    /// The HTTP version to speak upstream.
    pub fn version(&self) -> http::Version {
        match self.protocol {
            UpstreamProtocol::Http1 => http::Version::HTTP_11,
            UpstreamProtocol::Http2 => http::Version::HTTP_2,
        }
    }

    /// Sends `req` and waits for the response headers, within `timeout`.
    pub async fn send(
        &self,
        req: http::Request<CountingBody>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<http::Response<Incoming>, ProxyError> {
        let sending = req.body().client_sending();
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Err(timed_out(timeout, &sending)),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(classify(&e, connect_timeout)),
        }
    }
}

/// The cause when no response headers came within `timeout`: the client's when its request
/// body was still arriving (408, like a client body timeout), else the upstream's (504).
pub(crate) fn timed_out(timeout: Duration, sending: &ClientSending) -> ProxyError {
    if sending.waiting() {
        ProxyError::ClientTimeout(timeout)
    } else {
        ProxyError::UpstreamTimeout(timeout)
    }
}

/// The client's part in a failed exchange, if the request body it sent is what failed:
/// too large, malformed or cut off, or stalled.
pub(crate) fn request_body_fault(e: &(dyn std::error::Error + 'static)) -> Option<ProxyError> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(limit) = s.downcast_ref::<BodyLimitExceeded>() {
            return Some(ProxyError::BodyTooLarge(limit.0));
        }
        if s.downcast_ref::<ClientBodyFailed>().is_some() {
            return Some(ProxyError::BadRequest("request body malformed or cut off"));
        }
        if let Some(t) = s.downcast_ref::<ClientBodyTimeout>() {
            return Some(ProxyError::ClientTimeout(t.0));
        }
        source = s.source();
    }
    None
}

/// Names the cause of a client error.
fn classify(e: &hyper_util::client::legacy::Error, connect_timeout: Duration) -> ProxyError {
    if let Some(client) = request_body_fault(e) {
        return client;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut root = e.to_string();
    let mut timed_out = false;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        root = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        if timed_out || root.contains("timed out") || root.contains("timeout") {
            ProxyError::UpstreamConnectTimeout(connect_timeout)
        } else {
            ProxyError::UpstreamConnect(root)
        }
    } else {
        ProxyError::Upstream(root)
    }
}
