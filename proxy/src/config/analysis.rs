//! The `analysis:` section: baselines and anomaly detection (the step, learning, persistence,
//! minimum traffic and the time zone of the seasonal profiles).

use super::context::Convert;
use super::file::AnalysisFile;
use std::time::Duration;

/// Baselines and anomaly detection (changes apply at the next restart).
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisSettings {
    /// The length of a baseline step (default a minute). Shorter steps compress time for demos
    /// and tests: learning and persistence are counted in steps of this length.
    pub step: Duration,
    /// No statistical anomaly before an endpoint has this much history (default 20% of a week).
    pub learning: Duration,
    /// A departure must last this long before it is an anomaly (default 3 minutes).
    pub persistence: Duration,
    /// Minimum traffic (calls per step, a minute by default) for rate, error and latency rules
    /// (default 10).
    pub min_rate: f64,
    /// The time zone of the seasonal profiles, an IANA name (default none: UTC).
    pub timezone: Option<String>,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            step: Duration::from_secs(60),
            learning: Duration::from_secs(2016 * 60),
            persistence: Duration::from_secs(180),
            min_rate: 10.0,
            timezone: None,
        }
    }
}

/// The time zone called `name`, an IANA name (`Europe/Berlin`); an unknown name is an error
/// that says so.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|_| {
        format!("unknown time zone `{name}` (expected an IANA name such as Europe/Berlin)")
    })
}

/// Checks the section.
pub(super) fn convert(raw: AnalysisFile, cx: &mut Convert<'_>) -> AnalysisSettings {
    let d = AnalysisSettings::default();
    let analysis = AnalysisSettings {
        step: raw.step.map_or(d.step, |d| d.0),
        learning: raw.learning.map_or(d.learning, |d| d.0),
        persistence: raw.persistence.map_or(d.persistence, |d| d.0),
        min_rate: raw.min_rate.unwrap_or(d.min_rate),
        timezone: raw.timezone,
    };
    if let Some(Err(reason)) = analysis.timezone.as_deref().map(time_zone) {
        cx.issue("analysis.timezone", reason);
    }
    if analysis.step < Duration::from_millis(10) || analysis.step > Duration::from_secs(60) {
        cx.issue("analysis.step", "between 10ms and 1m");
    }
    if analysis.persistence < analysis.step {
        cx.issue(
            "analysis.persistence",
            "at least one step (1m unless analysis.step is shorter)",
        );
    }
    if !(analysis.min_rate >= 0.0 && analysis.min_rate.is_finite()) {
        cx.issue("analysis.min_rate", "must be zero or more calls per step");
    }
    analysis
}
