//! The detector's tunables, with the defaults the evaluation in `docs/DETECTION.md` measured.

use serde::{Deserialize, Serialize};

/// Tunables of baselines and detectors. Durations are in minutes of wall time; a baseline fed
/// coarser steps (a replayed 5-minute series) converts them to steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// No statistical anomaly before this much history. Default 2016 (20% of a week).
    pub learning_minutes: u64,
    /// A breach must hold this many consecutive minutes before it fires. Default 3.
    pub persistence_minutes: u64,
    /// Minimum traffic, in calls per minute: a spike needs at least this rate observed, a drop
    /// at least this rate expected, and error or latency rules at least this rate observed.
    /// Below it, an error surge is still reported when its failed calls of the last few steps
    /// are too many for the expected error ratio (a binomial tail below 1%). Default 10.
    pub min_rate: f64,
    /// The absolute rule: the short window of standardised forecast errors must lie this many
    /// standard deviations from its usual value (a tail probability of about 3e-5 at 4).
    /// Learning also clips errors at this many standard deviations. Default 4.
    pub sigmas: f64,
    /// The relative rule: the change must exceed this fraction of the expected value.
    /// Default 0.2 (a rise to 120% or a fall to 80%).
    pub relative_change: f64,
    /// An error surge must also raise the error ratio by at least this much (absolute, 0–1),
    /// since a relative rise from an expected 0% means nothing. Default 0.05.
    pub min_error_ratio_rise: f64,
    /// A latency degradation must also add at least this many milliseconds. Default 20.
    pub min_latency_rise_ms: f64,
    /// Half-life of the adaptive level, in minutes: how fast a lasting change of level becomes
    /// the new normal. Default 720.
    pub level_half_life_minutes: f64,
    /// Half-life of the global spread (forecast-error variance), in minutes. Default 1440.
    pub spread_half_life_minutes: f64,
    /// Seasonal slots (hour of week, hour of day) forget over about this many cycles (weeks,
    /// days). Default 4.
    pub profile_memory_cycles: f64,
    /// A seasonal slot is trusted half-way once it has seen this many cycles' worth of
    /// observations; until then it is blended with the coarser profile and the global stats.
    /// Default 1.
    pub profile_prior_cycles: f64,
    /// A breach lasting this long is adopted: the level follows it in full from then on.
    /// Default 60.
    pub adopt_minutes: u64,
    /// After an episode, the signal must stay calm this long before the rule re-arms (one
    /// finding per episode, however much it flaps). Default 720.
    pub rearm_minutes: u64,
    /// A reported episode that was short re-arms after a calm `recovery_factor` times its
    /// length, and at least this long (at most `rearm_minutes`): a second incident after
    /// recovery is reported again. Default 360.
    pub recovery_minutes: u64,
    /// See `recovery_minutes`. Default 12.
    pub recovery_factor: u64,
    /// The spread learns forecast errors clipped at this multiple of the band's half-width.
    /// Default 1.
    pub spread_clip: f64,
    /// Half-life of the short window, in minutes: the exponentially weighted mean of the
    /// recent standardised forecast errors that the absolute rule judges. Default 45.
    pub short_window_minutes: f64,
    /// The short window's half-life is at least this many steps: with coarse steps (a replayed
    /// 5-minute series) a window of few samples is too noisy to judge. Default 18.
    pub short_window_min_steps: f64,
    /// Half-life of the long window, in minutes: how the short window is usually distributed
    /// for this signal. Default 10080 (a week).
    pub long_window_minutes: f64,
    /// Each standardised forecast error counts at most this many standard deviations into the
    /// short window. Default 30.
    pub error_clip: f64,
    /// The point rule (for single-step spikes and dips, which the short window dilutes): a
    /// step's standardised forecast error breaches when it reaches at least this many standard
    /// deviations and `point_margin` times the envelope of recent errors. Default 6.
    pub point_sigmas: f64,
    /// The point rule's margin over the largest errors of the recent past (a decaying envelope
    /// with the long window's half-life, learned outside episodes): a quiet series is judged by
    /// `point_sigmas`, a bursty one by its own bursts. 0 turns the point rule off. Default 1.5.
    pub point_margin: f64,
    /// The shift rule (a two-sided cumulative sum of standardised forecast errors, for a
    /// lasting change of level): the allowance per step, in standard deviations. Default 1.5.
    pub shift_slack: f64,
    /// The shift rule breaches when a cumulative sum reaches this many standard deviations;
    /// 0 turns the rule off. Default 8.
    pub shift_threshold: f64,
    /// Each standardised error counts at most this many standard deviations into the shift
    /// rule's sums (robust to lone bursts). Default 3.
    pub shift_clip: f64,
    /// The shift rule judged by the series' own bursts: each side's threshold is at least this
    /// many times the envelope of the peaks its sum reached in recent short excursions (ones
    /// that drained within `adopt_minutes`, learned outside episodes, each clipped at the
    /// threshold, decaying with the long window's half-life), so a series whose bursts of half
    /// an hour add up like a level change needs more than they reach. 0 turns it off.
    /// Default 1.5.
    pub shift_margin: f64,
    /// The likelihood rule (the tail probability of the recent mean of error magnitudes under
    /// their long-run distribution): the short mean's half-life in steps; 0 turns the rule
    /// off. Default 0.
    pub likelihood_steps: f64,
    /// The likelihood rule breaches beyond this many standard deviations. Default 5.
    pub likelihood_sigmas: f64,
    /// The time zone of the hour-of-week and hour-of-day profiles: an IANA name such as
    /// `Europe/Berlin`, so daily peaks keep their slot across daylight-saving changes. Default
    /// none (UTC).
    pub timezone: Option<String>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            learning_minutes: 2016,
            persistence_minutes: 3,
            min_rate: 10.0,
            sigmas: 4.0,
            relative_change: 0.2,
            min_error_ratio_rise: 0.05,
            min_latency_rise_ms: 20.0,
            level_half_life_minutes: 720.0,
            spread_half_life_minutes: 1440.0,
            profile_memory_cycles: 4.0,
            profile_prior_cycles: 1.0,
            adopt_minutes: 60,
            rearm_minutes: 720,
            recovery_minutes: 360,
            recovery_factor: 12,
            spread_clip: 1.0,
            short_window_minutes: 45.0,
            short_window_min_steps: 18.0,
            long_window_minutes: 10080.0,
            error_clip: 30.0,
            point_sigmas: 6.0,
            point_margin: 1.5,
            shift_slack: 1.5,
            shift_threshold: 8.0,
            shift_clip: 3.0,
            shift_margin: 1.5,
            likelihood_steps: 0.0,
            likelihood_sigmas: 5.0,
            timezone: None,
        }
    }
}

impl DetectorConfig {
    /// Consecutive steps of `step_minutes` a breach must hold (at least one).
    pub fn persistence_steps(&self, step_minutes: u64) -> u64 {
        self.persistence_minutes
            .div_ceil(step_minutes.max(1))
            .max(1)
    }

    /// Consecutive calm steps before a rule re-arms (at least one).
    pub fn rearm_steps(&self, step_minutes: u64) -> u64 {
        self.rearm_minutes.div_ceil(step_minutes.max(1)).max(1)
    }

    /// Consecutive calm steps after which a short reported episode re-arms (at least one).
    pub fn recovery_steps(&self, step_minutes: u64) -> u64 {
        self.recovery_minutes.div_ceil(step_minutes.max(1)).max(1)
    }

    /// Consecutive breaching steps after which the level follows the change in full.
    pub fn adopt_steps(&self, step_minutes: u64) -> u64 {
        self.adopt_minutes.div_ceil(step_minutes.max(1)).max(1)
    }

    /// Steps of `step_minutes` before any statistical anomaly.
    pub fn learning_steps(&self, step_minutes: u64) -> u64 {
        self.learning_minutes.div_ceil(step_minutes.max(1))
    }

    /// The minimum traffic for one step of `step_minutes`.
    pub fn min_rate_per_step(&self, step_minutes: u64) -> f64 {
        self.min_rate * step_minutes.max(1) as f64
    }
}

impl From<&crate::config::AnalysisSettings> for DetectorConfig {
    /// The detector configuration the `analysis:` settings give: the detector counts steps as
    /// minutes, so learning and persistence become whole steps of `step` (at least one).
    fn from(settings: &crate::config::AnalysisSettings) -> Self {
        let step = settings.step.as_millis().max(1);
        let steps =
            |d: std::time::Duration| (d.as_millis() / step).clamp(1, u128::from(u64::MAX)) as u64;
        DetectorConfig {
            learning_minutes: steps(settings.learning),
            persistence_minutes: steps(settings.persistence),
            min_rate: settings.min_rate,
            timezone: settings.timezone.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DetectorConfig;
    use crate::config::{Config, ConfigError};
    use std::path::Path;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "test.yaml", Path::new("/etc/sightline"))
    }

    const GOOD: &str = "\
version: 1
inbound:
  routes:
    - { path_prefix: /, service: web }
services:
  web:
    upstreams: [127.0.0.1:7003]
";

    #[test]
    fn a_compressed_step_turns_durations_into_steps() {
        let c = parse(&format!(
            "{GOOD}analysis: {{ step: 500ms, learning: 10s, persistence: 1500ms, min_rate: 2 }}\n"
        ))
        .unwrap();
        assert_eq!(c.analysis.step, Duration::from_millis(500));
        let d = DetectorConfig::from(&c.analysis);
        assert_eq!((d.learning_minutes, d.persistence_minutes), (20, 3));
        assert_eq!(d.min_rate, 2.0);
        // The default: minutes.
        let d = DetectorConfig::from(&parse(GOOD).unwrap().analysis);
        assert_eq!((d.learning_minutes, d.persistence_minutes), (2016, 3));
        assert_eq!(d.timezone, None);
    }

    #[test]
    fn the_seasonal_profiles_follow_the_configured_time_zone() {
        let c = parse(&format!("{GOOD}analysis: {{ timezone: Europe/Berlin }}\n")).unwrap();
        assert_eq!(
            DetectorConfig::from(&c.analysis).timezone.as_deref(),
            Some("Europe/Berlin")
        );
    }
}
