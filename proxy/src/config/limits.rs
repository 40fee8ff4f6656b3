//! The `limits:` section: timeouts and size limits on the data path.

use super::context::Convert;
use super::file::LimitsFile;
use std::time::Duration;

/// Timeouts and size limits on the data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed to receive a request's headers (slowloris defence).
    pub header_read_timeout: Duration,
    /// Maximum total size of request headers; larger gets 431.
    pub max_header_bytes: usize,
    /// Maximum request-target length; longer gets 414.
    pub max_uri_bytes: usize,
    /// Maximum request body; larger gets 413. `None` for no limit.
    pub max_request_body: Option<u64>,
    /// Time from request to the upstream's response headers; longer gets 504.
    pub request_timeout: Duration,
    /// Time to connect to an upstream; longer gets 504.
    pub upstream_connect_timeout: Duration,
    /// A client connection with no request in flight for this long is closed; also the
    /// idle time of pooled upstream connections.
    pub idle_timeout: Duration,
    /// Idle connections kept per upstream address: a burst of concurrent calls opens as many
    /// connections as it needs; once it is over, those past this many are closed instead of
    /// each holding its buffers until `idle_timeout`.
    pub upstream_max_idle: usize,
    /// Maximum concurrent client connections on the inbound listener.
    pub max_connections: usize,
    /// A request or response body (inbound, and egress forwarding) that moves no byte for
    /// this long is cut off, and so is a client connection whose writes make no progress
    /// for this long (a client that stopped reading).
    pub body_idle_timeout: Duration,
    /// On shutdown, time allowed for in-flight requests to finish.
    pub drain_timeout: Duration,
    /// On shutdown, how long `/readyz` answers 503 while the listeners still accept and serve
    /// as usual, before the drain begins (time for load balancers to stop sending).
    pub accept_grace: Duration,
    /// During the drain, a kept-alive HTTP/1.1 connection that sends no request for this long
    /// is closed; one that does gets its answer with `Connection: close`.
    pub drain_idle_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_request_body: None,
            request_timeout: Duration::from_secs(30),
            upstream_connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            upstream_max_idle: 256,
            max_connections: 10_000,
            body_idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            accept_grace: Duration::ZERO,
            drain_idle_grace: Duration::from_secs(1),
        }
    }
}

/// Checks the section.
pub(super) fn convert(l: LimitsFile, cx: &mut Convert<'_>) -> Limits {
    let d = Limits::default();
    let limits = Limits {
        header_read_timeout: l.header_read_timeout.map_or(d.header_read_timeout, |v| v.0),
        max_header_bytes: l
            .max_header_bytes
            .map_or(d.max_header_bytes, |v| v.0 as usize),
        max_uri_bytes: l.max_uri_bytes.map_or(d.max_uri_bytes, |v| v.0 as usize),
        max_request_body: l.max_request_body.map(|v| v.0),
        request_timeout: l.request_timeout.map_or(d.request_timeout, |v| v.0),
        upstream_connect_timeout: l
            .upstream_connect_timeout
            .map_or(d.upstream_connect_timeout, |v| v.0),
        idle_timeout: l.idle_timeout.map_or(d.idle_timeout, |v| v.0),
        upstream_max_idle: l.upstream_max_idle.unwrap_or(d.upstream_max_idle),
        max_connections: l.max_connections.unwrap_or(d.max_connections),
        body_idle_timeout: l.body_idle_timeout.map_or(d.body_idle_timeout, |v| v.0),
        drain_timeout: l.drain_timeout.map_or(d.drain_timeout, |v| v.0),
        accept_grace: l.accept_grace.map_or(d.accept_grace, |v| v.0),
        drain_idle_grace: l.drain_idle_grace.map_or(d.drain_idle_grace, |v| v.0),
    };
    for (key, zero) in [
        (
            "limits.header_read_timeout",
            limits.header_read_timeout.is_zero(),
        ),
        ("limits.request_timeout", limits.request_timeout.is_zero()),
        (
            "limits.upstream_connect_timeout",
            limits.upstream_connect_timeout.is_zero(),
        ),
        ("limits.idle_timeout", limits.idle_timeout.is_zero()),
        ("limits.max_connections", limits.max_connections == 0),
        (
            "limits.body_idle_timeout",
            limits.body_idle_timeout.is_zero(),
        ),
    ] {
        if zero {
            cx.issue(key, "must be greater than zero");
        }
    }
    if limits.max_header_bytes < 1024 {
        cx.issue("limits.max_header_bytes", "must be at least 1KiB");
    }
    limits
}
