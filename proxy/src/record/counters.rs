//! Exact, lock-free counters bumped on the data path for every call.

use super::{CallRecord, Direction};
use sightline_policy::Decision;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// The status class of a call: `1xx`…`5xx`, or `error` when no status was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// Informational (101 for upgrades).
    Informational,
    /// 2xx.
    Success,
    /// 3xx.
    Redirect,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// The connection ended without a status.
    NoStatus,
}

impl StatusClass {
    /// Every class, in label order.
    pub const ALL: [StatusClass; 6] = [
        StatusClass::Informational,
        StatusClass::Success,
        StatusClass::Redirect,
        StatusClass::ClientError,
        StatusClass::ServerError,
        StatusClass::NoStatus,
    ];

    /// The class of a status (or of none).
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(100..=199) => StatusClass::Informational,
            Some(200..=299) => StatusClass::Success,
            Some(300..=399) => StatusClass::Redirect,
            Some(400..=499) => StatusClass::ClientError,
            Some(500..=599) => StatusClass::ServerError,
            _ => StatusClass::NoStatus,
        }
    }

    /// `1xx` … `5xx`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoStatus => "error",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds (seconds) of the duration histogram buckets. They reach past the default
/// request timeout (30 s) to five minutes, so calls cut by a timeout and long streamed responses
/// land in a bucket of their own rather than in `+Inf`.
pub const DURATION_BUCKETS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// Counters of one (direction, service) pair.
#[derive(Debug, Default)]
pub struct ServiceCounters {
    requests: [[AtomicU64; 6]; 4],
    duration_buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    duration_micros_sum: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl ServiceCounters {
    fn observe(&self, rec: &CallRecord) {
        let d = Decision::ALL
            .iter()
            .position(|x| *x == rec.decision)
            .unwrap_or(0);
        self.requests[d][StatusClass::of(rec.status).index()].fetch_add(1, Relaxed);
        let secs = rec.duration.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.duration_buckets[bucket].fetch_add(1, Relaxed);
        self.duration_micros_sum.fetch_add(
            rec.duration.as_micros().min(u64::MAX as u128) as u64,
            Relaxed,
        );
        self.bytes_in.fetch_add(rec.bytes_in, Relaxed);
        self.bytes_out.fetch_add(rec.bytes_out, Relaxed);
    }

    /// Calls with this decision and status class.
    pub fn requests(&self, decision: Decision, class: StatusClass) -> u64 {
        let d = Decision::ALL
            .iter()
            .position(|x| *x == decision)
            .unwrap_or(0);
        self.requests[d][class.index()].load(Relaxed)
    }

    /// All calls.
    pub fn total(&self) -> u64 {
        self.requests
            .iter()
            .flatten()
            .map(|c| c.load(Relaxed))
            .sum()
    }

    /// Non-cumulative bucket counts (the last is +Inf) and the sum in seconds.
    pub fn durations(&self) -> (Vec<u64>, f64) {
        let buckets = self
            .duration_buckets
            .iter()
            .map(|b| b.load(Relaxed))
            .collect();
        (buckets, self.duration_micros_sum.load(Relaxed) as f64 / 1e6)
    }

    /// Body bytes received from and sent to clients.
    pub fn bytes(&self) -> (u64, u64) {
        (self.bytes_in.load(Relaxed), self.bytes_out.load(Relaxed))
    }
}

/// The label used for calls that matched no service.
pub const UNROUTED: &str = "-";

/// The counters label for calls from unidentified sources.
pub const UNKNOWN_SOURCE: &str = "unknown";

/// Every counter the proxy keeps. Per-service counters are created when a config is built, so
/// the data path only follows an `Arc` it already holds.
#[derive(Debug, Default)]
pub struct Counters {
    services: RwLock<BTreeMap<(Direction, String), Arc<ServiceCounters>>>,
    /// Records handed to the recorder task.
    pub records_queued: AtomicU64,
    /// Records dropped because the queue was full.
    pub records_dropped: AtomicU64,
    /// Records the recorder task has processed.
    pub records_processed: AtomicU64,
    /// (client, cause) pairs evicted from the event aggregation table (its cap reached).
    pub client_event_evictions: AtomicU64,
    /// Client connections accepted.
    pub connections_accepted: AtomicU64,
    /// Client connections refused because `limits.max_connections` was reached.
    pub connections_rejected: AtomicU64,
    /// Egress connections refused because `egress.max_connections` was reached.
    pub egress_connections_rejected: AtomicU64,
    /// Admin connections refused because `admin.max_connections` was reached.
    pub admin_connections_rejected: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_handshake_failures: AtomicU64,
    /// Upstream ejections.
    pub upstream_ejections: AtomicU64,
    /// Times the store could not be opened at start.
    pub store_open_failures: AtomicU64,
    /// Config reloads applied.
    pub reloads_ok: AtomicU64,
    /// Config reloads rejected (the running config kept serving).
    pub reloads_failed: AtomicU64,
    /// Labelled counters and gauges registered by other parts of the proxy (client
    /// protections, alert sinks, ...), rendered on `/metrics` and pushed over OTLP.
    pub registry: crate::metrics::Registry,
}

impl Counters {
    /// The counters of a (direction, service); created on first use. Not for the data path:
    /// call it while building a config and keep the `Arc`.
    pub fn service(&self, direction: Direction, name: &str) -> Arc<ServiceCounters> {
        let key = (direction, name.to_owned());
        if let Ok(map) = self.services.read() {
            if let Some(c) = map.get(&key) {
                return c.clone();
            }
        }
        match self.services.write() {
            Ok(mut map) => map.entry(key).or_default().clone(),
            // A poisoned lock only means a panic elsewhere; counting must go on.
            Err(poisoned) => poisoned.into_inner().entry(key).or_default().clone(),
        }
    }

    /// Every (direction, service) with its counters, sorted.
    pub fn all_services(&self) -> Vec<((Direction, String), Arc<ServiceCounters>)> {
        match self.services.read() {
            Ok(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(p) => p
                .into_inner()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Counts a finished call against the counters the caller already holds.
    pub fn observe(&self, service: &ServiceCounters, rec: &CallRecord) {
        service.observe(rec);
    }
}

impl PartialOrd for Direction {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Direction {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
