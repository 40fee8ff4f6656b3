//! Per-endpoint time series: one bucket per minute for the last hour and one per hour for the
//! last day, summed into the 1m, 5m, 1h and 24h windows.

use super::Observation;
use crate::analysis::sketch::{Quantiles, Sketch};
use serde::Serialize;
use std::collections::VecDeque;

/// A window the API can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Window {
    /// The last minute.
    #[serde(rename = "1m")]
    OneMinute,
    /// The last five minutes.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// The last hour.
    #[serde(rename = "1h")]
    OneHour,
    /// The last day.
    #[serde(rename = "24h")]
    OneDay,
}

impl Window {
    /// Parses `1m`, `5m`, `1h`, `24h`.
    pub fn parse(s: &str) -> Option<Window> {
        Some(match s {
            "1m" => Window::OneMinute,
            "5m" => Window::FiveMinutes,
            "1h" => Window::OneHour,
            "24h" | "1d" => Window::OneDay,
            _ => return None,
        })
    }

    /// Length in seconds.
    pub fn secs(self) -> u64 {
        match self {
            Window::OneMinute => 60,
            Window::FiveMinutes => 300,
            Window::OneHour => 3600,
            Window::OneDay => 86_400,
        }
    }
}

/// Totals of one minute or one hour.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// Minute or hour number since the epoch.
    pub at: u64,
    /// Calls.
    pub count: u64,
    /// 4xx answers from the destination (not Sightline's refusals).
    pub e4xx: u64,
    /// 5xx answers and calls that got no answer, from calls that were let through.
    pub e5xx: u64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Calls refused by policy.
    pub blocked: u64,
    /// Calls let through with an objection.
    pub reported: u64,
    /// Latency.
    pub latency: Sketch,
}

impl Bucket {
    pub(crate) fn add(&mut self, o: &Observation) {
        self.count += 1;
        // A refused call's status is Sightline's own answer, not the destination's: it counts
        // as blocked, never as a 4xx or 5xx of the callee.
        match o.status {
            _ if o.blocked => {}
            400..=499 => self.e4xx += 1,
            0 | 500..=599 => self.e5xx += 1,
            _ => {}
        }
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.blocked += u64::from(o.blocked);
        self.reported += u64::from(o.reported);
        self.latency.add_latency(o.latency);
    }

    pub(crate) fn merge(&mut self, b: &Bucket) {
        self.count += b.count;
        self.e4xx += b.e4xx;
        self.e5xx += b.e5xx;
        self.bytes_in += b.bytes_in;
        self.bytes_out += b.bytes_out;
        self.blocked += b.blocked;
        self.reported += b.reported;
        self.latency.merge(&b.latency);
    }
}

/// One endpoint's history.
#[derive(Debug)]
pub(super) struct Series {
    first_seen: u64,
    last_seen: u64,
    minutes: VecDeque<Bucket>,
    hours: VecDeque<Bucket>,
    /// Where the endpoint's watches are, once known.
    pub(super) watches: crate::analysis::watch::WatchPlaces,
    /// Raw paths seen, for a template that hides them.
    pub(super) samples: super::samples::Samples,
    /// Whether the callee's known endpoints hold this one (they never forget one).
    pub(super) known: bool,
}

fn push(ring: &mut VecDeque<Bucket>, at: u64, keep: usize) -> Option<&mut Bucket> {
    let newest = ring.back().map(|b| b.at);
    // Nearly every call lands in the newest bucket.
    if newest == Some(at) {
        return ring.back_mut();
    }
    if newest.is_none_or(|n| n < at) {
        ring.push_back(Bucket {
            at,
            ..Bucket::default()
        });
        while ring.len() > keep {
            ring.pop_front();
        }
        return ring.back_mut();
    }
    // Late records (a long call finishing after newer ones) land in their own bucket if kept.
    ring.iter_mut().rev().find(|b| b.at == at)
}

impl Series {
    pub(super) fn new(at: u64) -> Self {
        Series {
            first_seen: at,
            last_seen: at,
            minutes: VecDeque::new(),
            hours: VecDeque::new(),
            watches: Default::default(),
            samples: Default::default(),
            known: false,
        }
    }

    pub(super) fn add(&mut self, o: &Observation) {
        self.last_seen = self.last_seen.max(o.at);
        self.first_seen = self.first_seen.min(o.at);
        if let Some(b) = push(&mut self.minutes, o.at / 60, 61) {
            b.add(o);
        }
        if let Some(b) = push(&mut self.hours, o.at / 3600, 25) {
            b.add(o);
        }
    }

    /// The sum of the buckets inside `window` ending at `now`.
    pub(super) fn merged(&self, window: Window, now: u64) -> Bucket {
        let mut total = Bucket::default();
        let (ring, since) = match window {
            Window::OneDay => (&self.hours, (now / 3600).saturating_sub(23)),
            w => (&self.minutes, (now / 60).saturating_sub(w.secs() / 60 - 1)),
        };
        for b in ring.iter().filter(|b| b.at >= since) {
            total.merge(b);
        }
        total
    }

    /// The bucket of `minute` (unix minutes), if it had calls and is still kept.
    pub(super) fn minute(&self, minute: u64) -> Option<&Bucket> {
        self.minutes.iter().rev().find(|b| b.at == minute)
    }

    /// Takes back a stored minute (`b.at` in unix minutes) of a previous run; minutes come
    /// oldest first, and older than every minute seen in this run.
    pub(super) fn absorb(&mut self, b: &Bucket) {
        let at = b.at.saturating_mul(60);
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        if let Some(m) = push(&mut self.minutes, b.at, 61) {
            m.merge(b);
        }
        if let Some(h) = push(&mut self.hours, b.at / 60, 25) {
            h.merge(b);
        }
    }

    /// When the series' first call came (unix seconds).
    pub(super) fn first_seen(&self) -> u64 {
        self.first_seen
    }

    /// Stats over `window` ending at `now`, rated over the part of it since `since` (the
    /// graph's first call) when that is shorter.
    pub(super) fn stats(
        &self,
        method: &str,
        template: &str,
        window: Window,
        (since, now): (u64, u64),
    ) -> EndpointStats {
        let span = observed_secs(window, since, now);
        let mut s = EndpointStats::from_bucket(&self.merged(window, now), span);
        s.method = method.to_owned();
        s.template = template.to_owned();
        s.first_seen = self.first_seen;
        s.last_seen = self.last_seen;
        s.samples = self
            .samples
            .between(now.saturating_sub(window.secs() - 1), u64::MAX);
        s
    }
}

/// All series of an edge together, rated like [`Series::stats`].
pub(super) fn total<'a>(
    window: Window,
    series: impl Iterator<Item = &'a Series> + Clone,
    (since, now): (u64, u64),
) -> EndpointStats {
    let mut b = Bucket::default();
    for s in series.clone() {
        b.merge(&s.merged(window, now));
    }
    let mut s = EndpointStats::from_bucket(&b, observed_secs(window, since, now));
    s.method = "*".into();
    s.template = "*".into();
    s.first_seen = series.clone().map(|e| e.first_seen).min().unwrap_or(0);
    s.last_seen = series.map(|e| e.last_seen).max().unwrap_or(0);
    s
}

/// The seconds of `window` with traffic to rate over: the whole window, or less when the
/// graph's first call (`since`) came within it.
fn observed_secs(window: Window, since: u64, now: u64) -> u64 {
    window
        .secs()
        .min(now.saturating_sub(since).saturating_add(1))
}

/// Stats of an endpoint (or edge) over a window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EndpointStats {
    /// Method (`*` for an edge total).
    pub method: String,
    /// Route template (`*` for an edge total).
    pub template: String,
    /// Calls.
    pub count: u64,
    /// Calls per second over the window, or since the graph's first call when that came later.
    pub rate: f64,
    /// Share of 4xx answers among the calls let through to the destination.
    pub ratio_4xx: f64,
    /// Share of 5xx answers and calls without an answer, among the calls let through.
    pub ratio_5xx: f64,
    /// Latency quantiles, milliseconds.
    pub latency_ms: Quantiles,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Calls refused by policy.
    pub blocked: u64,
    /// Calls let through with an objection.
    pub reported: u64,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// For a template that stands for raw paths (`/{unmatched}`, `/{overflow}`): a few of the
    /// paths seen in the window, most recent first. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<super::PathSample>,
}

impl EndpointStats {
    fn from_bucket(b: &Bucket, span_secs: u64) -> Self {
        // Error shares are of the calls that reached the destination: refused ones had no
        // answer from it.
        let reached = b.count.saturating_sub(b.blocked);
        let ratio = |n: u64| {
            if reached == 0 {
                0.0
            } else {
                n as f64 / reached as f64
            }
        };
        EndpointStats {
            count: b.count,
            rate: b.count as f64 / span_secs.max(1) as f64,
            ratio_4xx: ratio(b.e4xx),
            ratio_5xx: ratio(b.e5xx),
            latency_ms: b.latency.quantiles(),
            bytes_in: b.bytes_in,
            bytes_out: b.bytes_out,
            blocked: b.blocked,
            reported: b.reported,
            ..EndpointStats::default()
        }
    }
}
