//! What a detector reports: the kind of anomaly, the signal, and observed vs expected.

use serde::{Deserialize, Serialize};

/// The signal a baseline tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Calls per step (per minute live; per series step in a replay).
    Rate,
    /// Failed calls divided by calls.
    ErrorRatio,
    /// The latency quantile of the step, in milliseconds.
    Latency,
}

/// Which rule fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    /// Traffic well above its expected level.
    RateSpike,
    /// Traffic well below its expected level, silence included.
    RateDrop,
    /// The share of failed calls well above its expected level.
    ErrorSurge,
    /// Latency well above its expected level.
    LatencyDegradation,
}

impl AnomalyKind {
    /// The signal the rule watches.
    pub fn signal(self) -> Signal {
        match self {
            Self::RateSpike | Self::RateDrop => Signal::Rate,
            Self::ErrorSurge => Signal::ErrorRatio,
            Self::LatencyDegradation => Signal::Latency,
        }
    }
}

/// The rule that found an anomaly: of the rules that breached at the step reported, the first
/// in this order. It says why the step was judged anomalous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The short window of standardised forecast errors lies far from its usual value: a run
    /// of surprising steps, or one huge one.
    #[default]
    Absolute,
    /// One step's forecast error beyond its threshold and the envelope of recent ones.
    Point,
    /// A cumulative sum of forecast errors: a lasting change of level.
    Shift,
    /// The recent mean of error magnitudes far above its usual value (off by default).
    Likelihood,
    /// Too many failed calls for chance on a low-volume endpoint (a binomial tail).
    Count,
}

/// One detected anomaly: the start of an episode, reported once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Which rule fired.
    pub kind: AnomalyKind,
    /// The unix minute of the step at which the breach had persisted long enough.
    pub minute: u64,
    /// The observed value at that step.
    pub observed: f64,
    /// The value the baseline expected at that step.
    pub expected: f64,
    /// The band `(lo, hi)` of the relative rule: the observed value lies outside it.
    pub band: (f64, f64),
    /// The absolute rule's score: how far the short window of standardised forecast errors
    /// lies from its usual value, in its standard deviations (negative below). When the point
    /// rule fired (one step far beyond anything recent), it may still lie within the threshold.
    #[serde(default)]
    pub score: f64,
    /// How long the breach lasted before firing, in minutes (the persistence window).
    pub window_minutes: u64,
    /// The signal concerned.
    pub signal: Signal,
    /// The rule that fired: the first of them that breached at this step.
    #[serde(default)]
    pub rule: Rule,
    /// How far that rule lay beyond its threshold, as a multiple of it (1.5: half as far
    /// again); for the count test, the false-alarm probability allowed over the binomial tail.
    #[serde(default)]
    pub margin: f64,
}
