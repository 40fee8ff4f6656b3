//! `Baseline`: what one endpoint or edge normally does, per signal, learned step by step.

use super::anomaly::Signal;
use super::calendar::Zone;
use super::config::DetectorConfig;
use super::signal::{band_width, relative_width, Expectation, Learning, SignalModel, StepLearning};
use super::stats::alpha_for_half_life;
use super::{MinuteSample, Observation};
use serde::{Deserialize, Serialize};

/// Below this, a value is "zero" for the relative rule of the rate (keeps bands non-empty).
const RATE_FLOOR: f64 = 1e-9;

/// Learned behaviour of one endpoint or edge: rate, error ratio and latency, each an adaptive
/// level with an hour-of-week profile. Serialisable, so the store can persist it.
///
/// Feed one step per call, in time order: [`observe`](Self::observe) for a step with calls,
/// [`observe_gap`](Self::observe_gap) for a step without (a busy endpoint falling silent is then
/// a drop of the rate to zero). Learning is robust: a value outside the normal band moves the
/// baseline only as far as the band's edge (a [`Detector`](super::Detector) lets the level follow
/// a confirmed change in full).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    step_minutes: u64,
    learning: Learning,
    /// Absolute floors of the band per signal: rate, error ratio, latency.
    floors: [f64; 3],
    steps: u64,
    last_minute: Option<u64>,
    rate: SignalModel,
    error_ratio: SignalModel,
    latency: SignalModel,
    /// The time zone the seasonal profiles follow (UTC unless configured).
    #[serde(default)]
    zone: Zone,
}

impl Baseline {
    /// A baseline of 1-minute steps.
    pub fn new(config: &DetectorConfig) -> Self {
        Self::with_step(config, 1)
    }

    /// A baseline whose steps last `step_minutes` (a replayed series of coarser buckets).
    pub fn with_step(config: &DetectorConfig, step_minutes: u64) -> Self {
        let step = step_minutes.max(1);
        let steps = step as f64;
        // Observations one slot gets per cycle: an hour's worth of steps.
        let per_slot_cycle = (60.0 / steps).max(1.0);
        let memory = (config.profile_memory_cycles * per_slot_cycle).max(1.0);
        let prior = (config.profile_prior_cycles * per_slot_cycle).max(0.0);
        // The short window spans at least `short_window_min_steps` samples, however coarse
        // the steps: fewer make its distribution too noisy to judge.
        let short = config
            .short_window_minutes
            .max(config.short_window_min_steps * steps);
        Self {
            step_minutes: step,
            learning: Learning {
                level: alpha_for_half_life(config.level_half_life_minutes, steps),
                spread: alpha_for_half_life(config.spread_half_life_minutes, steps),
                week_floor: 1.0 / memory,
                day_floor: 1.0 / memory,
                week_prior: prior,
                day_prior: prior,
                sigmas: config.sigmas,
                relative: config.relative_change,
                spread_clip: config.spread_clip,
                recent: alpha_for_half_life(short, steps),
                usual: alpha_for_half_life(config.long_window_minutes, steps),
                usual_warm: ((3.0 * short / steps).ceil() as u64)
                    .min(config.learning_steps(step))
                    .max(3),
                error_clip: config.error_clip,
                point_sigmas: config.point_sigmas,
                point_margin: config.point_margin,
                shift_slack: config.shift_slack,
                shift_threshold: config.shift_threshold,
                shift_clip: config.shift_clip,
                shift_margin: config.shift_margin,
                shift_burst_steps: config.adopt_steps(step),
                likelihood_recent: if config.likelihood_steps > 0.0 {
                    alpha_for_half_life(config.likelihood_steps, 1.0)
                } else {
                    0.0
                },
                likelihood_sigmas: config.likelihood_sigmas,
            },
            floors: [
                RATE_FLOOR,
                config.min_error_ratio_rise,
                config.min_latency_rise_ms,
            ],
            steps: 0,
            last_minute: None,
            rate: SignalModel::default(),
            error_ratio: SignalModel::default(),
            latency: SignalModel::default(),
            zone: Zone::new(config.timezone.as_deref()).unwrap_or_default(),
        }
    }

    /// Follows `zone` from now on (a restored baseline takes the configured zone).
    pub(crate) fn set_zone(&mut self, zone: Zone) {
        self.zone = zone;
    }

    /// Minutes per step.
    pub fn step_minutes(&self) -> u64 {
        self.step_minutes
    }

    /// Steps learned so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The minute of the last step learned.
    pub fn last_minute(&self) -> Option<u64> {
        self.last_minute
    }

    /// Learns one minute of traffic. Out-of-order minutes are ignored (returns `false`).
    pub fn observe(&mut self, sample: &MinuteSample) -> bool {
        self.learn(&Observation::from(sample), [(false, true); 3])
    }

    /// Learns a minute without any call: zero traffic.
    pub fn observe_gap(&mut self, minute: u64) -> bool {
        self.observe(&MinuteSample::silent(minute))
    }

    /// What the baseline expects of `signal` at `minute`; `None` while it has seen too little.
    pub fn expectation(&self, signal: Signal, minute: u64) -> Option<Expectation> {
        self.model(signal)
            .forecast(self.zone.local(minute), &self.learning)
    }

    /// The band `(lo, hi)` of the relative rule around an expectation of `signal`: a value
    /// outside it changed by more than `relative_change` (and the signal's floor).
    pub fn band(&self, signal: Signal, e: &Expectation) -> (f64, f64) {
        let width = relative_width(e, &self.learning, self.floor(signal));
        (e.expected - width, e.expected + width)
    }

    /// How surprising `value` makes the recent steps of `signal`, given the expectation `e`: the
    /// short window's mean standardised error, in standard deviations of its usual distribution
    /// (positive above, negative below). `None` while the baseline has seen too little.
    pub fn surprise(&self, signal: Signal, value: f64, e: &Expectation) -> Option<f64> {
        self.model(signal)
            .surprise(value, e, self.floor(signal), &self.learning)
    }

    /// The point rule for `value` given the expectation `e`: its single-step standardised error
    /// as a fraction of the rule's threshold (beyond 1 or -1: it breaches). `None` while the
    /// baseline has seen too little, or with the rule off.
    pub fn point(&self, signal: Signal, value: f64, e: &Expectation) -> Option<f64> {
        self.model(signal)
            .point(value, e, self.floor(signal), &self.learning)
    }

    /// The shift rule for `value`: the larger cumulative sum of excess errors as a fraction of
    /// its threshold, signed (beyond 1 or -1: it breaches). `None` while young or off.
    pub fn shift(&self, signal: Signal, value: f64, e: &Expectation) -> Option<f64> {
        self.model(signal)
            .shift(value, e, self.floor(signal), &self.learning)
    }

    /// The likelihood rule for `value`: the recent mean error magnitude, in standard deviations
    /// of its usual distribution. `None` while young or off.
    pub fn likelihood(&self, signal: Signal, value: f64, e: &Expectation) -> Option<f64> {
        self.model(signal)
            .likelihood(value, e, self.floor(signal), &self.learning)
    }

    /// Learns one step. Errors are clipped to the band. Per signal (rate, error ratio, latency),
    /// `(follow, usual)`: `follow` lets the level take the whole error, which the detector does
    /// once a breach has lasted (a lasting change becomes the new normal); `usual` counts the
    /// step in the long window, which the detector skips while an episode is under way (one
    /// incident must not teach that incidents are normal).
    pub(crate) fn learn(&mut self, obs: &Observation, roles: [(bool, bool); 3]) -> bool {
        if self.last_minute.is_some_and(|last| obs.minute <= last) {
            return false;
        }
        self.last_minute = Some(obs.minute);
        self.steps = self.steps.saturating_add(1);
        let values = [Some(obs.rate), obs.error_ratio, obs.latency_ms];
        let local = self.zone.local(obs.minute);
        for ((signal, value), (follow, usual)) in SIGNALS.into_iter().zip(values).zip(roles) {
            let Some(value) = value else { continue };
            let floor = self.floor(signal);
            // A burst moves the baseline no further than `sigmas` standard deviations.
            let clip = self.expectation(signal, obs.minute).map(|e| {
                let width = band_width(&e, &self.learning, floor);
                (width, width)
            });
            let learning = &self.learning;
            let model = match signal {
                Signal::Rate => &mut self.rate,
                Signal::ErrorRatio => &mut self.error_ratio,
                Signal::Latency => &mut self.latency,
            };
            let step = StepLearning {
                clip,
                follow,
                usual,
                floor,
            };
            model.learn(local, value, step, learning);
        }
        true
    }

    fn model(&self, signal: Signal) -> &SignalModel {
        match signal {
            Signal::Rate => &self.rate,
            Signal::ErrorRatio => &self.error_ratio,
            Signal::Latency => &self.latency,
        }
    }

    fn floor(&self, signal: Signal) -> f64 {
        self.floors[signal_index(signal)]
    }
}

/// The signals in the order of the arrays above.
pub(crate) const SIGNALS: [Signal; 3] = [Signal::Rate, Signal::ErrorRatio, Signal::Latency];

/// The index of `signal` in [`SIGNALS`].
pub(crate) fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Rate => 0,
        Signal::ErrorRatio => 1,
        Signal::Latency => 2,
    }
}
