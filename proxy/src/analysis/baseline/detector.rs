//! `Detector`: checks each step against the baseline's forecast, then lets the baseline learn it.

use super::anomaly::{Anomaly, AnomalyKind, Rule};
use super::config::DetectorConfig;
use super::episode::Episode;
use super::model::{signal_index, Baseline, SIGNALS};
use super::{MinuteSample, Observation};
use serde::{Deserialize, Serialize};

/// The rules, in the order of [`Detector`]'s episodes.
const KINDS: [AnomalyKind; 4] = [
    AnomalyKind::RateSpike,
    AnomalyKind::RateDrop,
    AnomalyKind::ErrorSurge,
    AnomalyKind::LatencyDegradation,
];

/// The count test's false-alarm probability per step: an error surge below the minimum traffic
/// is reported when the failed calls of the last few steps have a binomial tail below this
/// under the expected error ratio.
const COUNT_ALPHA: f64 = 0.01;

/// The error ratio the count test assumes at least (an endpoint that never failed still fails
/// now and then).
const COUNT_MIN_RATIO: f64 = 0.01;

/// The count test judges at most this many calls (above the minimum traffic it is not needed).
const COUNT_MAX_CALLS: f64 = 1000.0;

/// `P(X >= k)` for `X ~ Binomial(n, p)`, summed over the terms below `k` (`k` is small here).
pub(super) fn binomial_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let p = p.clamp(0.0, 1.0);
    let q = 1.0 - p;
    // P(X = 0), then P(X = i + 1) = P(X = i) · (n − i) / (i + 1) · p / q.
    let mut term = q.powf(n as f64);
    let mut below = 0.0;
    for i in 0..k {
        below += term;
        if q <= 0.0 {
            break;
        }
        term *= (n - i) as f64 / (i + 1) as f64 * p / q;
    }
    (1.0 - below).max(0.0)
}

/// Baseline plus the four rules (rate spike, rate drop, error surge, latency degradation) of one
/// endpoint or edge. Serialisable with its episodes, so a restart does not re-report an episode.
///
/// A step breaches a rule when, in the rule's direction, it changed by more than
/// `relative_change` of the expected value (the relative rule) AND the short window of
/// standardised forecast errors lies more than `sigmas` standard deviations from its usual value
/// (the absolute rule, a tail probability over a short vs a long window). A rule reports once the breach has held `persistence_minutes`, when
/// past `learning_minutes` and the minimum traffic holds; then stays quiet until the signal has
/// been calm as long again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    config: DetectorConfig,
    baseline: Baseline,
    episodes: [Episode; 4],
    /// Calls and failed calls of the recent steps, each step's weight decaying by
    /// `1 − 1/persistence`: the evidence the count test judges on a low-volume endpoint.
    #[serde(default)]
    recent_calls: (f64, f64),
}

impl Detector {
    /// A detector of 1-minute steps.
    pub fn new(config: DetectorConfig) -> Self {
        Self::with_step(config, 1)
    }

    /// A detector whose steps last `step_minutes` (durations in the config are converted).
    pub fn with_step(config: DetectorConfig, step_minutes: u64) -> Self {
        Self {
            baseline: Baseline::with_step(&config, step_minutes),
            config,
            episodes: Default::default(),
            recent_calls: (0.0, 0.0),
        }
    }

    /// Resumes from a persisted baseline, with no episode under way. The baseline keeps what
    /// it learned and judges with `config`'s tunables and time zone.
    pub fn from_baseline(config: DetectorConfig, mut baseline: Baseline) -> Self {
        baseline.retune(&config);
        Self {
            config,
            baseline,
            episodes: Default::default(),
            recent_calls: (0.0, 0.0),
        }
    }

    /// The tunables.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The learned baseline.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Whether an episode of `kind` is under way and was reported.
    pub fn reported(&self, kind: AnomalyKind) -> bool {
        KINDS
            .iter()
            .zip(&self.episodes)
            .any(|(k, e)| *k == kind && e.is_reported())
    }

    /// Whether the learning period is still running (no statistical anomaly yet).
    pub fn learning(&self) -> bool {
        self.baseline.steps() < self.config.learning_steps(self.baseline.step_minutes())
    }

    /// Checks and learns one minute of traffic.
    pub fn observe(&mut self, sample: &MinuteSample) -> Vec<Anomaly> {
        self.observe_values(&Observation::from(sample))
    }

    /// Checks and learns a minute without any call (zero traffic: a drop for a busy endpoint).
    pub fn observe_gap(&mut self, minute: u64) -> Vec<Anomaly> {
        self.observe(&MinuteSample::silent(minute))
    }

    /// Checks and learns one step. Steps not after the last one are ignored.
    pub fn observe_values(&mut self, obs: &Observation) -> Vec<Anomaly> {
        if self
            .baseline
            .last_minute()
            .is_some_and(|last| obs.minute <= last)
        {
            return Vec::new();
        }
        let step = self.baseline.step_minutes();
        let persist = self.config.persistence_steps(step);
        let rearm = self.config.rearm_steps(step);
        let adopt = self.config.adopt_steps(step);
        let recovery = (
            self.config.recovery_factor,
            self.config.recovery_steps(step),
        );
        let min_rate = self.config.min_rate_per_step(step);
        let learned = !self.learning();
        let busy = |rate: f64| min_rate <= 0.0 || rate >= min_rate;
        let keep = 1.0 - 1.0 / persist as f64;
        // Calls are counts; a replayed series may hold anything, which counts as no call.
        let calls_now = Some(obs.rate)
            .filter(|r| r.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        let ratio_now = obs.error_ratio.filter(|r| r.is_finite()).unwrap_or(0.0);
        self.recent_calls = (
            self.recent_calls.0 * keep + calls_now,
            self.recent_calls.1 * keep + ratio_now.clamp(0.0, 1.0) * calls_now,
        );
        let (calls, failures) = self.recent_calls;
        // Below the minimum traffic, failed calls count when too many for chance: the count
        // test breaches with its margin (its false-alarm probability over the tail).
        let unlikely = |expected_ratio: f64| {
            if calls > COUNT_MAX_CALLS {
                return None;
            }
            let tail = binomial_tail(
                calls.round() as u64,
                failures.round() as u64,
                expected_ratio.max(COUNT_MIN_RATIO),
            );
            (tail < COUNT_ALPHA).then(|| COUNT_ALPHA / tail.max(f64::MIN_POSITIVE))
        };
        let values = [Some(obs.rate), obs.error_ratio, obs.latency_ms];
        let mut found = Vec::new();
        for (i, kind) in KINDS.into_iter().enumerate() {
            let signal = kind.signal();
            let value = values[signal_index(signal)];
            let check = value.zip(self.baseline.expectation(signal, obs.minute));
            let (breach, reportable, evidence) = match check {
                Some((value, e)) => {
                    let band = self.baseline.band(signal, &e);
                    let score = self.baseline.surprise(signal, value, &e).unwrap_or(0.0);
                    // The point rule judges only once learned: its envelope is still filling
                    // during learning, and a silent episode opened then would blind the rule.
                    let point = match learned {
                        true => self.baseline.point(signal, value, &e).unwrap_or(0.0),
                        false => 0.0,
                    };
                    let shift = match learned {
                        true => self.baseline.shift(signal, value, &e).unwrap_or(0.0),
                        false => 0.0,
                    };
                    let likely = self.baseline.likelihood(signal, value, &e).unwrap_or(0.0);
                    let sigmas = self.config.sigmas;
                    let likely_sigmas = self.config.likelihood_sigmas;
                    // Below the minimum traffic, an error surge is judged on its counts.
                    let counted = match kind == AnomalyKind::ErrorSurge && !busy(obs.rate) {
                        true => unlikely(e.expected),
                        false => None,
                    };
                    // The rules in the kind's direction: whether each breaches and by how much
                    // (a multiple of its threshold), in the order of `Rule`.
                    let (sign, beyond, traffic) = match kind {
                        AnomalyKind::RateDrop => (-1.0, value < band.0, e.expected),
                        _ => (1.0, value > band.1, obs.rate),
                    };
                    let rules = [
                        (Rule::Absolute, sign * score > sigmas, sign * score / sigmas),
                        (Rule::Point, sign * point > 1.0, sign * point),
                        (Rule::Shift, sign * shift > 1.0, sign * shift),
                        (
                            Rule::Likelihood,
                            likely > likely_sigmas,
                            likely / likely_sigmas,
                        ),
                    ];
                    // Below the minimum traffic only the count test judges (the other rules'
                    // ratios are too noisy there): it is the rule named.
                    let fired = match counted {
                        Some(margin) => Some((Rule::Count, true, margin)),
                        None => rules.into_iter().find(|(_, breached, _)| *breached),
                    };
                    let breach = beyond && fired.is_some();
                    let reportable = busy(traffic) || counted.is_some();
                    let (rule, margin) = fired.map_or((Rule::Absolute, 0.0), |(r, _, m)| (r, m));
                    (
                        breach,
                        reportable,
                        Some((value, e.expected, band, score, rule, margin)),
                    )
                }
                None => (false, false, None),
            };
            let Some(episode) = self.episodes.get_mut(i) else {
                continue;
            };
            if episode.step(
                breach,
                reportable,
                learned,
                persist,
                (rearm, adopt, recovery),
            ) {
                if let Some((observed, expected, band, score, rule, margin)) = evidence {
                    found.push(Anomaly {
                        kind,
                        minute: obs.minute,
                        observed,
                        expected,
                        band,
                        score,
                        window_minutes: persist * step,
                        signal,
                        rule,
                        margin,
                    });
                }
            }
        }
        let roles = SIGNALS.map(|signal| {
            let mine = || {
                KINDS
                    .iter()
                    .zip(&self.episodes)
                    .filter(move |(kind, _)| kind.signal() == signal)
                    .map(|(_, e)| e)
            };
            let follow = mine().any(|e| e.run() >= adopt);
            let usual = !mine().any(|e| e.is_open() && e.run() > persist);
            (follow, usual)
        });
        self.baseline.learn(obs, roles);
        found
    }
}
