//! Per-edge request series shaped like Istio's standard metrics (`istio_requests_total`,
//! `istio_request_duration_milliseconds`, `istio_request_bytes`, `istio_response_bytes`), so
//! graph tools that read those from Prometheus can draw Sightline's traffic. Fed by the
//! recorder task (off the data path), keyed by bounded labels: route templates instead of raw
//! paths, and a cap on label sets past which calls share one `overflow` series.

mod lookup;
mod render;

use lookup::{Last, SeriesRef};

use crate::analysis::keyed::KeyedState;
use crate::record::CallRecord;
use std::hash::Hash;
use std::sync::Mutex;

/// Upper bounds (milliseconds) of the duration buckets: Istio's defaults, then on past the
/// default request timeout (30 s) to five minutes.
pub const DURATION_MS_BUCKETS: [f64; 17] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 120000.0, 300000.0,
];

/// Upper bounds (bytes) of the size buckets.
pub const SIZE_BUCKETS: [f64; 9] = [
    1.0,
    10.0,
    100.0,
    1000.0,
    10_000.0,
    100_000.0,
    1_000_000.0,
    10_000_000.0,
    100_000_000.0,
];

/// The labels of one series, in export order.
pub const LABELS: [&str; 17] = [
    "reporter",
    "source",
    "destination",
    "source_workload",
    "source_canonical_service",
    "source_principal",
    "destination_workload",
    "destination_service",
    "destination_service_name",
    "destination_canonical_service",
    "request_protocol",
    "request_method",
    "route",
    "response_code",
    "status_class",
    "decision",
    "destination_enclave",
];

/// The label values of one series.
#[derive(Clone, Debug)]
pub struct SeriesKey {
    /// `destination` for inbound calls (Sightline in front of the callee), `source` for egress.
    pub reporter: &'static str,
    /// The caller: its verified identity or egress service, else `unknown`.
    pub source: String,
    /// The caller's verified identity, else `unknown`.
    pub principal: String,
    /// The callee: the inbound service, or the egress destination host.
    pub destination: String,
    /// The called service as `service` (inbound) or `host:port` (egress).
    pub destination_service: String,
    /// `http` or `tcp` (CONNECT tunnels).
    pub protocol: &'static str,
    /// The request method (unknown methods as `other`).
    pub method: &'static str,
    /// The route template, `-` when none.
    pub route: String,
    /// The status code, `0` when none was sent.
    pub code: u16,
    /// `2xx`…, `error`.
    pub class: &'static str,
    /// `allowed`, `reported`, `blocked`, `limited`.
    pub decision: &'static str,
    /// Egress: `inside` or `outside` the enclave; `-` otherwise.
    pub enclave: &'static str,
    /// The labels of few values (reporter, protocol, method, code, class, decision, enclave)
    /// as one number, one to one: hashed and compared in their stead.
    shape: u64,
}

/// What a key is hashed and compared by: the shape and the free-text labels. The same keys are
/// equal as when every label is compared, since the shape stands for the others one to one.
type Identity<'a> = (u64, [&'a str; 5]);

impl PartialEq for SeriesKey {
    fn eq(&self, k: &SeriesKey) -> bool {
        self.identity() == k.identity()
    }
}

impl Eq for SeriesKey {}

impl Hash for SeriesKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl SeriesKey {
    /// What the key is hashed and compared by.
    fn identity(&self) -> Identity<'_> {
        let labels = [
            self.source.as_str(),
            &self.principal,
            &self.destination,
            &self.destination_service,
            &self.route,
        ];
        (self.shape, labels)
    }

    /// The key of `rec`.
    pub fn of(rec: &CallRecord, template: Option<&str>) -> SeriesKey {
        SeriesRef::of(rec, template, &mut String::new()).to_key()
    }

    /// The series every call shares once the cap is reached.
    pub fn overflow() -> SeriesKey {
        SeriesRef::overflow().to_key()
    }

    /// The label values in [`LABELS`] order.
    pub fn values(&self) -> [String; 17] {
        [
            self.reporter.to_owned(),
            self.source.clone(),
            self.destination.clone(),
            self.source.clone(),
            self.source.clone(),
            self.principal.clone(),
            self.destination.clone(),
            self.destination_service.clone(),
            self.destination.clone(),
            self.destination.clone(),
            self.protocol.to_owned(),
            self.method.to_owned(),
            self.route.clone(),
            self.code.to_string(),
            self.class.to_owned(),
            self.decision.to_owned(),
            self.enclave.to_owned(),
        ]
    }
}

/// The method label's values: the standard methods, then `other` for extension methods.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// The method's place in [`METHODS`].
fn method_index(m: &http::Method) -> usize {
    use http::Method as M;
    const STANDARD: [M; 9] = [
        M::GET,
        M::POST,
        M::PUT,
        M::DELETE,
        M::PATCH,
        M::HEAD,
        M::OPTIONS,
        M::CONNECT,
        M::TRACE,
    ];
    STANDARD
        .iter()
        .position(|k| k == m)
        .unwrap_or(STANDARD.len())
}

/// The method as a bounded label value (`other` for extension methods).
pub(crate) fn method(m: &http::Method) -> &'static str {
    METHODS[method_index(m)]
}

/// The counts of one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Calls.
    pub requests: u64,
    /// Non-cumulative duration bucket counts; the last is +Inf.
    pub duration: [u64; DURATION_MS_BUCKETS.len() + 1],
    /// Sum of durations, milliseconds.
    pub duration_sum_ms: f64,
    /// Request body size buckets.
    pub request_bytes: [u64; SIZE_BUCKETS.len() + 1],
    /// Sum of request body bytes.
    pub request_bytes_sum: u64,
    /// Response body size buckets.
    pub response_bytes: [u64; SIZE_BUCKETS.len() + 1],
    /// Sum of response body bytes.
    pub response_bytes_sum: u64,
}

fn bucket(bounds: &[f64], v: f64) -> usize {
    bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len())
}

impl Series {
    fn add(&mut self, rec: &CallRecord) {
        self.requests += 1;
        let ms = rec.duration.as_secs_f64() * 1e3;
        self.duration[bucket(&DURATION_MS_BUCKETS, ms)] += 1;
        self.duration_sum_ms += ms;
        self.request_bytes[bucket(&SIZE_BUCKETS, rec.bytes_in as f64)] += 1;
        self.request_bytes_sum += rec.bytes_in;
        self.response_bytes[bucket(&SIZE_BUCKETS, rec.bytes_out as f64)] += 1;
        self.response_bytes_sum += rec.bytes_out;
    }
}

/// The series, capped.
#[derive(Debug)]
pub struct Mesh {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Each series' place in `counts`. Keyed by attacker-chosen labels: a keyed hash (see
    /// [`KeyedState`]).
    series: hashbrown::HashMap<SeriesKey, u32, KeyedState>,
    /// The counts of every series, in the order the series were first seen.
    counts: Vec<Series>,
    cap: usize,
    overflowed: u64,
    /// Where an egress call's `host:port` is written to find its series.
    buf: String,
    /// The call last counted and its series: the next call with the same labels (nearly every
    /// call of a busy endpoint) counts there without hashing them.
    last: Option<Last>,
}

/// Adds the series of `key` (unknown so far) with no calls yet; returns its slot.
fn add_series(
    series: &mut hashbrown::HashMap<SeriesKey, u32, KeyedState>,
    counts: &mut Vec<Series>,
    key: SeriesKey,
) -> u32 {
    let slot = counts.len() as u32;
    series.insert(key, slot);
    counts.push(Series::default());
    slot
}

impl Mesh {
    /// An empty set holding at most `cap` label sets (plus the overflow series).
    pub fn new(cap: usize) -> Self {
        Mesh {
            inner: Mutex::new(Inner {
                series: hashbrown::HashMap::default(),
                counts: Vec::new(),
                cap,
                overflowed: 0,
                buf: String::new(),
                last: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one call; returns the key it was counted under (the overflow key past the cap).
    pub fn observe(&self, rec: &CallRecord, template: Option<&str>) -> SeriesKey {
        if self.count(rec, template) {
            SeriesKey::of(rec, template)
        } else {
            SeriesKey::overflow()
        }
    }

    /// Counts one call; false when it was counted under the overflow series (past the cap).
    pub fn count(&self, rec: &CallRecord, template: Option<&str>) -> bool {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let shape = lookup::shape(rec);
        if let Some(last) = &inner.last {
            if last.matches(rec, template, shape) {
                if let Some(series) = inner.counts.get_mut(last.slot as usize) {
                    series.add(rec);
                    return true;
                }
            }
        }
        let key = SeriesRef::of(rec, template, &mut inner.buf);
        // A known series is found with one lookup and no copy of its key.
        let (slot, counted) = match inner.series.get(&key) {
            Some(&slot) => (slot, true),
            None if inner.series.len() < inner.cap => (
                add_series(&mut inner.series, &mut inner.counts, key.to_key()),
                true,
            ),
            None => {
                inner.overflowed += 1;
                let overflow = SeriesRef::overflow();
                match inner.series.get(&overflow) {
                    Some(&slot) => (slot, false),
                    None => {
                        let key = overflow.to_key();
                        (add_series(&mut inner.series, &mut inner.counts, key), false)
                    }
                }
            }
        };
        if let Some(series) = inner.counts.get_mut(slot as usize) {
            series.add(rec);
        }
        if counted {
            Last::keep(&mut inner.last, rec, template, shape, slot);
        }
        counted
    }

    /// Every series, sorted by labels, and the calls counted under the overflow series.
    pub fn snapshot(&self) -> (Vec<(SeriesKey, Series)>, u64) {
        let inner = self.lock();
        let mut all: Vec<_> = inner
            .series
            .iter()
            .filter_map(|(k, &slot)| Some((k.clone(), inner.counts.get(slot as usize)?.clone())))
            .collect();
        all.sort_by_key(|a| a.0.values());
        (all, inner.overflowed)
    }
}

#[cfg(test)]
mod tests;
