//! Per-endpoint and per-edge baselines of rate, error ratio and latency, and the detectors on top.
//!
//! Time is injected: every sample carries its unix minute, so the maths is pure and testable.
//!
//! - [`Baseline`] learns, per signal, an adaptive level plus an hour-of-week profile (backed by an
//!   hour-of-day profile and the global residual spread while the week slots are young).
//! - [`Detector`] checks each step against the baseline's forecast *before* learning it, and
//!   turns breaches into [`Anomaly`] events: an absolute AND a relative change, a minimum
//!   traffic, persistence over several minutes, once per episode, never during learning.
//! - [`DetectorConfig`] holds every tunable with documented defaults.
//!
//! `docs/DETECTION.md` describes the method and its measured results.

mod anomaly;
mod calendar;
mod config;
mod detector;
mod episode;
mod model;
mod signal;
mod stats;

#[cfg(test)]
mod tests;

pub use anomaly::{Anomaly, AnomalyKind, Rule, Signal};
pub use calendar::Zone;
pub use config::DetectorConfig;
pub use detector::Detector;
pub use model::Baseline;
pub use signal::Expectation;

/// One minute of traffic for one endpoint or edge.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinuteSample {
    /// Unix time in minutes (seconds since the epoch divided by 60).
    pub minute: u64,
    /// Calls finished in that minute.
    pub count: u64,
    /// Calls among them that failed (5xx or a transport error).
    pub errors: u64,
    /// The latency quantile of that minute (p90 by convention), in milliseconds.
    pub latency_ms: f64,
}

impl MinuteSample {
    /// A minute with no call at all: zero traffic, no error ratio, no latency.
    pub fn silent(minute: u64) -> Self {
        Self {
            minute,
            count: 0,
            errors: 0,
            latency_ms: 0.0,
        }
    }
}

/// The values of one time step, as the baseline sees them.
///
/// [`MinuteSample`] converts into this; the offline replay builds it directly from a series whose
/// values need not be whole counts. Error ratio and latency are `None` when the step had no call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Unix minute at the start of the step.
    pub minute: u64,
    /// Calls in the step (for replayed series: the series value).
    pub rate: f64,
    /// Failed calls divided by calls, when there was at least one call.
    pub error_ratio: Option<f64>,
    /// Latency quantile in milliseconds, when there was at least one call.
    pub latency_ms: Option<f64>,
}

impl From<&MinuteSample> for Observation {
    fn from(s: &MinuteSample) -> Self {
        let called = s.count > 0;
        Self {
            minute: s.minute,
            rate: s.count as f64,
            error_ratio: called.then(|| s.errors.min(s.count) as f64 / s.count as f64),
            latency_ms: (called && s.latency_ms.is_finite() && s.latency_ms >= 0.0)
                .then_some(s.latency_ms),
        }
    }
}

impl Observation {
    /// A step with only a rate value (the replay of a single series).
    pub fn rate_only(minute: u64, rate: f64) -> Self {
        Self {
            minute,
            rate,
            error_ratio: None,
            latency_ms: None,
        }
    }
}
