//! The record of one finished call.

use sightline_policy::Decision;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which way the call crossed the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A client calling a service behind the proxy.
    Inbound,
    /// A service calling out through the proxy.
    Egress,
}

impl Direction {
    /// `inbound` or `egress`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Egress => "egress",
        }
    }
}

/// How the call was carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x.
    H1,
    /// HTTP/2.
    H2,
    /// An HTTP/1.1 Upgrade (WebSocket and the like), relayed as bytes after the 101.
    Upgrade,
    /// A CONNECT tunnel through the egress proxy (any TCP, typically TLS).
    Tunnel,
    /// One HTTP request inside an inspected CONNECT tunnel (TLS terminated by Sightline).
    Inspected,
    /// A connection redirected to the transparent egress listener, relayed as bytes (or, for
    /// an inspected host, the tunnel its requests are recorded under).
    Transparent,
}

impl Protocol {
    /// `h1`, `h2`, `upgrade`, `tunnel`, `inspected`, `transparent`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::H1 => "h1",
            Protocol::H2 => "h2",
            Protocol::Upgrade => "upgrade",
            Protocol::Tunnel => "tunnel",
            Protocol::Inspected => "inspected",
            Protocol::Transparent => "transparent",
        }
    }

    /// A byte relay whose requests the proxy does not see (a CONNECT tunnel or a transparent
    /// connection): no method and path of its own to template.
    pub const fn opaque(self) -> bool {
        matches!(self, Protocol::Tunnel | Protocol::Transparent)
    }
}

/// One finished call, rejected ones included.
#[derive(Clone, Debug)]
pub struct CallRecord {
    /// The request id (also sent upstream as `x-request-id` and in error bodies), inline.
    pub request_id: crate::trace::RequestId,
    /// The W3C trace id.
    pub trace_id: [u8; 16],
    /// This hop's span id.
    pub span_id: [u8; 8],
    /// The caller's span id, when it sent `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// W3C trace flags (bit 0: sampled) as sent upstream.
    pub trace_flags: u8,
    /// When the request arrived, by the wall clock. The data path reads no wall clock: the
    /// recorder dates a record from `arrived` as it takes it, so this is the Unix epoch until
    /// then.
    pub start: SystemTime,
    /// When the request arrived, on the monotonic clock the call is timed by (set as its
    /// guard starts): the recorder dates the record (`start`) from it. `None` for a record
    /// whose `start` is set already.
    pub arrived: Option<crate::clock::Mono>,
    /// Until the end of the response body (or of the tunnel, for upgrades).
    pub duration: Duration,
    /// Until the upstream's response headers.
    pub upstream_latency: Option<Duration>,
    /// Inbound or egress.
    pub direction: Direction,
    /// The caller's socket address.
    pub source_addr: SocketAddr,
    /// The caller's verified identity (client certificate SAN), when known.
    pub source_identity: Option<Arc<str>>,
    /// The service the call belongs to: the one called (inbound, when routed) or the one
    /// calling out (egress, when identified).
    pub service: Option<Arc<str>>,
    /// Inbound: the calling service, when the caller's address or certificate identity names
    /// one in `egress.sources` or `egress.identities` (east-west calls through the proxy).
    pub caller_service: Option<Arc<str>>,
    /// The upstream address dialed.
    pub upstream: Option<Arc<str>>,
    /// Egress: the destination port asked for.
    pub dest_port: Option<u16>,
    /// Egress: whether the dialed (or refused) address is inside the enclave.
    pub inside: Option<bool>,
    /// Egress tunnels: the server name from the TLS ClientHello, when there was one.
    pub sni: Option<String>,
    /// The request method.
    pub method: http::Method,
    /// The host asked for, lowercase, without port.
    pub host: String,
    /// The path, cut to the configured maximum.
    pub path: String,
    /// Whether `path` was cut.
    pub path_truncated: bool,
    /// Inbound: the canonical path routing, the client protections and route templates used
    /// (cut like `path`), when it differs from `path`.
    pub canonical_path: Option<String>,
    /// The matched route (its path prefix until route templates exist).
    pub route: Option<Arc<str>>,
    /// The status sent to the client, if any was.
    pub status: Option<u16>,
    /// The proxy's error code when it answered itself or the exchange broke.
    pub error: Option<&'static str>,
    /// Request body bytes read from the client.
    pub bytes_in: u64,
    /// Response body bytes written to the client.
    pub bytes_out: u64,
    /// h1, h2 or upgrade.
    pub protocol: Protocol,
    /// Whether the client connection was TLS.
    pub tls: bool,
    /// What was done.
    pub decision: Decision,
    /// Why, when not simply allowed or when it failed.
    pub reason: String,
    /// The client protections' part: client id, the protection that acted, what it set off.
    pub client: super::ClientMark,
}

impl CallRecord {
    /// The caller as shown in the graph and API: for egress the calling service (or
    /// `unknown:<ip>`), for inbound the calling service, else the client's identity, else its
    /// IP.
    pub fn source_label(&self) -> String {
        self.parties().source_label()
    }

    /// What was called: the service (inbound), `host:port` (egress), or `-`.
    pub fn destination_label(&self) -> String {
        self.parties().destination_label()
    }

    fn parties(&self) -> Parties<'_> {
        Parties {
            direction: self.direction,
            source_addr: self.source_addr,
            source_identity: self.source_identity.as_deref(),
            service: self.service.as_deref(),
            caller_service: self.caller_service.as_deref(),
            host: &self.host,
            dest_port: self.dest_port,
        }
    }
}

/// What a call's source and destination labels are made of, borrowed from a record or from
/// what is kept of it.
pub(super) struct Parties<'a> {
    pub direction: Direction,
    pub source_addr: SocketAddr,
    pub source_identity: Option<&'a str>,
    pub service: Option<&'a str>,
    pub caller_service: Option<&'a str>,
    pub host: &'a str,
    pub dest_port: Option<u16>,
}

impl Parties<'_> {
    /// See [`CallRecord::source_label`].
    pub fn source_label(&self) -> String {
        match (
            self.direction,
            self.service,
            self.caller_service,
            self.source_identity,
        ) {
            (Direction::Egress, Some(svc), _, _) => svc.to_owned(),
            (Direction::Egress, None, _, _) => format!("unknown:{}", self.source_addr.ip()),
            (Direction::Inbound, _, Some(caller), _) => caller.to_owned(),
            (Direction::Inbound, _, None, Some(id)) => id.to_owned(),
            (Direction::Inbound, _, None, None) => self.source_addr.ip().to_string(),
        }
    }

    /// See [`CallRecord::destination_label`].
    pub fn destination_label(&self) -> String {
        match (self.direction, self.service) {
            (Direction::Inbound, Some(s)) => s.to_owned(),
            (Direction::Inbound, None) => "-".into(),
            // The host is already bracketed when it is an IPv6 address.
            (Direction::Egress, _) => match self.dest_port {
                Some(p) => format!("{}:{p}", self.host),
                None => self.host.to_owned(),
            },
        }
    }
}

impl CallRecord {
    /// The record of a call whose request just arrived, for either stack: `caller` is the
    /// connection's peer, verified identity and TLS; `host` and `path` (cut, and whether it
    /// was) are as the stack read them. Everything learned later starts empty. Built in its
    /// one allocation, which [`super::CallGuard::start`] takes: moving the record's few hundred
    /// bytes into an `Arc` afterwards would copy them twice.
    pub fn begin<B>(
        direction: Direction,
        req: &http::Request<B>,
        trace: &crate::trace::TraceContext,
        request_id: &crate::trace::RequestId,
        caller: (SocketAddr, Option<Arc<str>>, bool),
        host: String,
        (path, path_truncated): (String, bool),
    ) -> Arc<Self> {
        let (source_addr, source_identity, tls) = caller;
        Arc::new(CallRecord {
            request_id: *request_id,
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            parent_span_id: trace.parent_id,
            trace_flags: trace.flags,
            start: UNIX_EPOCH,
            arrived: None,
            duration: Duration::ZERO,
            upstream_latency: None,
            direction,
            source_addr,
            source_identity,
            caller_service: None,
            service: None,
            upstream: None,
            dest_port: None,
            inside: None,
            sni: None,
            method: req.method().clone(),
            host,
            path,
            path_truncated,
            canonical_path: None,
            route: None,
            status: None,
            error: None,
            bytes_in: 0,
            bytes_out: 0,
            protocol: if req.version() == http::Version::HTTP_2 {
                Protocol::H2
            } else {
                Protocol::H1
            },
            tls,
            decision: Decision::Allowed,
            reason: String::new(),
            client: Default::default(),
        })
    }
}

impl CallRecord {
    /// The path as routing and templates see it: the canonical path, else the path received.
    pub fn matched_path(&self) -> &str {
        self.canonical_path.as_deref().unwrap_or(&self.path)
    }
}

#[cfg(test)]
impl CallRecord {
    /// A plain inbound call, for tests to adjust.
    pub(crate) fn sample() -> Self {
        CallRecord {
            request_id: crate::trace::RequestId::from_text("r"),
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            trace_flags: 1,
            start: std::time::SystemTime::now(),
            arrived: None,
            duration: Duration::from_millis(1),
            upstream_latency: None,
            direction: Direction::Inbound,
            source_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            source_identity: None,
            service: None,
            caller_service: None,
            upstream: None,
            dest_port: None,
            inside: None,
            sni: None,
            method: http::Method::GET,
            host: "h".into(),
            path: "/".into(),
            path_truncated: false,
            canonical_path: None,
            route: None,
            status: Some(200),
            error: None,
            bytes_in: 0,
            bytes_out: 0,
            protocol: Protocol::H1,
            tls: false,
            decision: Decision::Allowed,
            reason: String::new(),
            client: Default::default(),
        }
    }
}
