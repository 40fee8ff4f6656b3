//! A service's upstreams: the [`router`] that picks the service by host and path prefix, round
//! robin over the upstreams not ejected, passive ejection of an upstream that keeps failing, and
//! the clients that talk to them: HTTP/1 calls over connections their own task drives, kept
//! alive per upstream ([`crate::h1pool`]), HTTP/2 and upgrades through a shared pooled client.

mod client;
pub mod forward_pool;
pub mod relay;
pub mod router;

use crate::config::Limits;
use crate::config::{Ejection, ServiceConfig, UpstreamProtocol};
use crate::errors::{Health, ProxyError};
use crate::h1pool::{self, Conn, Http1Client, Io};
use crate::record::{
    BodyLimitExceeded, ClientBodyFailed, ClientBodyTimeout, ClientSending, Counters, CountingBody,
    ServiceCounters,
};
use crate::server::BoxError;
use crate::wire::next_hop::{HostField, NextHop};
use futures_util::future::{Either, FutureExt};
use http::{HeaderValue, Uri};
use hyper_util::client::legacy::Client;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use client::{UpstreamConnector, REFUSED_RETRY_DELAYS};

/// A response body from an upstream, driving its pooled connection while it is read.
pub type UpstreamBody = h1pool::UpstreamBody<CountingBody>;

/// One upstream address of a service.
#[derive(Debug)]
pub struct Upstream {
    /// `host:port`.
    pub authority: Arc<str>,
    failures: AtomicU32,
    /// Milliseconds since the pool's epoch until which the upstream is out; 0 when in.
    ejected_until: AtomicU64,
    /// `scheme://authority/`, what the connector is asked to reach.
    connect_uri: Uri,
    /// The `Host` sent when the client's request had none.
    host: Option<HeaderValue>,
    /// Its idle HTTP/1 connections.
    idle: Arc<h1pool::Pool<CountingBody>>,
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
    connector: UpstreamConnector,
    client: Client<UpstreamConnector, CountingBody>,
    counters_all: Arc<Counters>,
    /// The HTTP/1.1 client of the connections this pool drives.
    http1: Http1Client,
    /// The largest response head its native connections accept.
    max_head: usize,
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
    /// Builds the pool and its client (loading any TLS material); `http1` speaks HTTP/1.1 on
    /// the connections the pool drives.
    pub fn new(
        name: &str,
        config: &ServiceConfig,
        limits: &Limits,
        http1: Http1Client,
        counters: Arc<ServiceCounters>,
        all: Arc<Counters>,
    ) -> Result<Self, sightline_certs::TlsError> {
        let connector = client::connector(config, limits)?;
        let client = client::shared(config, limits, connector.clone());
        let scheme = if config.tls.is_some() {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        };
        let upstreams = config
            .upstreams
            .iter()
            .map(|a| {
                // The address was checked as `host:port` with the configuration; were it not
                // a URI after all, every connection attempt fails (502), nothing else.
                let connect_uri = Uri::builder()
                    .scheme(scheme.clone())
                    .authority(a.as_str())
                    .path_and_query("/")
                    .build()
                    .unwrap_or_default();
                Upstream {
                    authority: a.as_str().into(),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    host: host_header(&connect_uri),
                    connect_uri,
                    idle: h1pool::Pool::new(limits.upstream_max_idle, limits.idle_timeout),
                }
            })
            .collect();
        Ok(ServicePool {
            name: name.into(),
            counters,
            upstreams,
            next: AtomicUsize::new(0),
            ejection: config.ejection,
            epoch: Instant::now(),
            scheme,
            protocol: config.protocol,
            connector,
            client,
            counters_all: all,
            http1,
            max_head: response_head_limit(limits),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The next upstream in round-robin order that is not ejected.
    pub fn pick(&self) -> Result<&Upstream, ProxyError> {
        let n = self.upstreams.len();
        let start = self.next.fetch_add(1, Relaxed);
        // The clock is read only when an upstream is (or was) out; one whose time out is
        // over is back in for good (0) until ejected again.
        let mut now = None;
        (0..n)
            .map(|i| &self.upstreams[(start + i) % n])
            .find(|u| match u.ejected_until.load(Relaxed) {
                0 => true,
                until if until <= *now.get_or_insert_with(|| self.now_ms()) => {
                    let _ = u.ejected_until.compare_exchange(until, 0, Relaxed, Relaxed);
                    true
                }
                _ => false,
            })
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

    /// Whether a call goes over the connections this pool drives itself (plain HTTP/1, not an
    /// upgrade), rather than through the shared client.
    pub fn drives(&self, upgrade: bool) -> bool {
        self.protocol == UpstreamProtocol::Http1 && !upgrade
    }

    /// The URI to send to `upstream` for a request whose path and query are `pq`: origin-form
    /// on the connections this pool drives, absolute for the shared client.
    pub fn uri(&self, upstream: &Upstream, pq: String, upgrade: bool) -> Result<Uri, ProxyError> {
        const BAD: ProxyError = ProxyError::BadRequest("request target cannot be forwarded");
        if self.drives(upgrade) {
            return Uri::try_from(pq).map_err(|_| BAD);
        }
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(&*upstream.authority)
            .path_and_query(pq)
            .build()
            .map_err(|_| BAD)
    }

    /// The HTTP version to speak upstream.
    pub fn version(&self) -> http::Version {
        match self.protocol {
            UpstreamProtocol::Http1 => http::Version::HTTP_11,
            UpstreamProtocol::Http2 => http::Version::HTTP_2,
        }
    }

    /// Sends `req` (its URI made by [`Self::uri`]) with the fields `hop` adds to `upstream` and
    /// waits for the response headers, within `timeout`.
    ///
    /// The future is built of combinators around the exchange's own (no `async` block, which
    /// would hold the request and the exchange's future a second time): the call's future,
    /// which holds this one, stays small and is cheap to move.
    pub fn send<'a>(
        &'a self,
        upstream: &'a Upstream,
        mut req: http::Request<CountingBody>,
        hop: NextHop,
        upgrade: bool,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> impl Future<Output = Result<http::Response<UpstreamBody>, ProxyError>> + Send + 'a {
        let sending = req.body().client_sending();
        if self.drives(upgrade) {
            // The connection's own timer keeps the deadline (see `h1pool::Conn::sent_by`).
            let now = tokio::time::Instant::now();
            let exchange = self.send_h1(upstream, req, hop, now, now + timeout);
            // One combinator for the body's connection and the error's cause: each stage would
            // move the response once more.
            return Either::Left(exchange.map(move |sent| match sent {
                Ok((resp, conn)) => {
                    let pool = upstream.idle.clone();
                    Ok(resp.map(|body| UpstreamBody::pooled(body, conn, pool)))
                }
                Err(e) => Err(e.classify(timeout, connect_timeout, &sending)),
            }));
        }
        hop.apply(req.headers_mut());
        let request = tokio::time::timeout(timeout, Box::pin(self.client.request(req)));
        Either::Right(request.map(move |sent| match sent {
            Err(_) => Err(timed_out(timeout, &sending)),
            Ok(Ok(resp)) => Ok(resp.map(UpstreamBody::from)),
            Ok(Err(e)) => Err(classify(&e, connect_timeout)),
        }))
    }

    /// One HTTP/1 exchange, begun at `now`, over an idle connection to `upstream`, else a new
    /// one, retried once as [`h1pool::exchange`] says, all of it by `deadline`. A request that
    /// names no authority gets the upstream's.
    fn send_h1<'a>(
        &'a self,
        upstream: &'a Upstream,
        req: http::Request<CountingBody>,
        mut hop: NextHop,
        now: tokio::time::Instant,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<h1pool::Exchanged<CountingBody>, H1Error>> + Send + 'a {
        if let (HostField::Absent, Some(host)) = (&hop.host, &upstream.host) {
            hop.host = HostField::Set(host.clone());
        }
        let dial = H1Dial {
            pool: self,
            upstream,
            deadline,
        };
        // `dial` is three words: the exchange takes it along.
        h1pool::exchange(Some(&*upstream.idle), dial, req, hop, now.into_std())
    }

    /// A new HTTP/1 connection to `upstream`.
    async fn connect(&self, upstream: &Upstream) -> Result<Box<Conn<CountingBody>>, H1Error> {
        use tower_service::Service;
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(H1Error::Connect)?;
        let io: Io = connector
            .call(upstream.connect_uri.clone())
            .await
            .map_err(H1Error::Connect)?;
        match self.http1 {
            Http1Client::Native => Ok(Conn::native(io, self.max_head)),
            Http1Client::Hyper => Conn::handshake(io)
                .await
                .map_err(|e| H1Error::Connect(e.into())),
        }
    }
}

/// How [`h1pool::exchange`] reaches one upstream of a service.
struct H1Dial<'a> {
    pool: &'a ServicePool,
    upstream: &'a Upstream,
    /// When the call's timeout ends: connecting and every attempt are within it.
    deadline: tokio::time::Instant,
}

impl h1pool::Dial<CountingBody> for H1Dial<'_> {
    type Error = H1Error;

    fn connect(&self) -> impl Future<Output = Result<Box<Conn<CountingBody>>, H1Error>> + Send {
        tokio::time::timeout_at(self.deadline, self.pool.connect(self.upstream))
            .map(|connected| connected.unwrap_or(Err(H1Error::TimedOut)))
    }

    fn send<'c>(
        &'c self,
        conn: &'c mut Conn<CountingBody>,
    ) -> impl Future<Output = Result<h1pool::Sent<CountingBody>, H1Error>> + Send + 'c {
        conn.sent_by(self.deadline)
            .map(|sent| sent.ok_or(H1Error::TimedOut))
    }

    fn failed(&self, error: BoxError) -> H1Error {
        H1Error::Exchange(error)
    }
}

/// The largest upstream response head accepted: as large as the header fields a request may
/// carry, with room for the status line, and never under 8 KiB.
pub(crate) fn response_head_limit(limits: &Limits) -> usize {
    (limits.max_header_bytes + 1024).max(8192)
}

/// The `Host` for a request to `uri` that came without one: its authority, the port left out
/// when it is the scheme's default.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        443
    } else {
        80
    };
    match uri.port_u16() {
        Some(port) if port != default => HeaderValue::try_from(format!("{host}:{port}")).ok(),
        _ => HeaderValue::from_str(host).ok(),
    }
}

/// How an exchange over a driven HTTP/1 connection failed.
#[derive(Debug)]
enum H1Error {
    /// No connection: refused, unreachable, timed out, TLS failed.
    Connect(BoxError),
    /// The exchange on a connection.
    Exchange(BoxError),
    /// No response head by the call's deadline.
    TimedOut,
}

impl H1Error {
    fn classify(
        self,
        timeout: Duration,
        connect_timeout: Duration,
        sending: &ClientSending,
    ) -> ProxyError {
        match self {
            H1Error::Connect(e) => connect_error(&*e, connect_timeout),
            H1Error::Exchange(e) => {
                if let Some(client) = request_body_fault(&*e) {
                    return client;
                }
                ProxyError::Upstream(root_cause(&*e).0)
            }
            H1Error::TimedOut => timed_out(timeout, sending),
        }
    }
}

/// The innermost cause's text, and whether any cause was an I/O time-out.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let mut root = e.to_string();
    let mut timed_out = false;
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        root = s.to_string();
        source = s.source();
    }
    (root, timed_out)
}

/// Names a failure to connect.
fn connect_error(e: &(dyn std::error::Error + 'static), connect_timeout: Duration) -> ProxyError {
    let (root, timed_out) = root_cause(e);
    if timed_out || root.contains("timed out") || root.contains("timeout") {
        ProxyError::UpstreamConnectTimeout(connect_timeout)
    } else {
        ProxyError::UpstreamConnect(root)
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
    if e.is_connect() {
        connect_error(e, connect_timeout)
    } else {
        ProxyError::Upstream(root_cause(e).0)
    }
}
