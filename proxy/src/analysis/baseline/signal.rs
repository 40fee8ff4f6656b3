//! The model of one signal: an adaptive level plus hour-of-week and hour-of-day offsets.
//!
//! Forecast for minute `m`: `level + offset(m)`, where the offset is the hour-of-week slot's
//! learned offset, blended (by how many observations each slot has) with the hour-of-day slot's,
//! itself blended with zero. The spread is blended the same way down to the global spread of
//! forecast errors. A young profile thus falls back on the daily shape, then on the plain level.

use super::calendar::{hour_of_day, hour_of_week, DAY_SLOTS, WEEK_SLOTS};
use super::stats::AdaptiveStats;
use serde::{Deserialize, Serialize};

/// Forecast errors the global spread must have seen before the model forecasts at all.
const WARM_STEPS: u64 = 3;

/// Steps over which a new level is the plain average of the values seen.
const LEVEL_WARM_STEPS: u64 = 10;

/// Smallest standard deviation of the short window assumed (a perfectly regular series would
/// otherwise make any wobble infinitely surprising).
const MIN_USUAL_SD: f64 = 0.05;

/// Smallest forecast-error scale assumed, relative to the expected value (a constant series has
/// no spread at all).
const MIN_RELATIVE_SIGMA: f64 = 0.01;

/// The forecast error in units of the forecast's spread, clipped so one wild step counts as a
/// bounded amount of evidence. The scale is at least the signal's `floor` divided by the
/// threshold, so a change the floor deems meaningless stays unsurprising.
fn standardised(error: f64, e: &Expectation, floor: f64, learning: &Learning) -> f64 {
    let scale = e
        .sigma
        .max(MIN_RELATIVE_SIGMA * e.expected.abs())
        .max(floor / learning.sigmas.max(1.0));
    if scale <= 0.0 || !scale.is_finite() {
        return 0.0;
    }
    (error / scale).clamp(-learning.error_clip, learning.error_clip)
}

/// What the baseline expects for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expectation {
    /// The expected value.
    pub expected: f64,
    /// The standard deviation of the forecast error.
    pub sigma: f64,
}

/// Learning rates per step and the band shape, derived from the config and the step length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Learning {
    /// Weight of a new step in the level.
    pub level: f64,
    /// Weight of a new step in the global spread, once warm.
    pub spread: f64,
    /// Floor of the weight of a new step in an hour-of-week slot.
    pub week_floor: f64,
    /// Floor of the weight of a new step in an hour-of-day slot.
    pub day_floor: f64,
    /// Observations an hour-of-week slot needs to be trusted half-way.
    pub week_prior: f64,
    /// Observations an hour-of-day slot needs to be trusted half-way.
    pub day_prior: f64,
    /// The absolute rule, in standard deviations.
    pub sigmas: f64,
    /// The relative rule, as a fraction of the expected value.
    pub relative: f64,
    /// The spread learns errors clipped at this multiple of the band's half-width.
    pub spread_clip: f64,
    /// Weight of a new step in the short window.
    pub recent: f64,
    /// Weight of a new step in the long window (once warm).
    pub usual: f64,
    /// Steps the long window must have seen before it judges.
    pub usual_warm: u64,
    /// Standardised errors are clipped to this many standard deviations.
    pub error_clip: f64,
    /// The point rule's smallest threshold, in standard deviations.
    #[serde(default)]
    pub point_sigmas: f64,
    /// The point rule's margin over the envelope of recent errors (0: no point rule).
    #[serde(default)]
    pub point_margin: f64,
    /// The shift rule's allowance per step, in standard deviations (0 with the rule off).
    #[serde(default)]
    pub shift_slack: f64,
    /// The shift rule's threshold: the cumulative sum of excess errors that breaches.
    #[serde(default)]
    pub shift_threshold: f64,
    /// Each standardised error counts at most this many standard deviations into the sums.
    #[serde(default)]
    pub shift_clip: f64,
    /// The shift rule's margin over the envelope of its sums' peaks in short excursions
    /// (0: the threshold alone).
    #[serde(default)]
    pub shift_margin: f64,
    /// An excursion of a sum that drains within this many steps is a burst, not a change.
    #[serde(default)]
    pub shift_burst_steps: u64,
    /// Weight of a new step in the likelihood rule's short mean of error magnitudes (0: off).
    #[serde(default)]
    pub likelihood_recent: f64,
    /// The likelihood rule's threshold, in standard deviations of the short mean's usual
    /// distribution.
    #[serde(default)]
    pub likelihood_sigmas: f64,
}

/// How far from the expected value the band of the point rule reaches, both ways: the larger of
/// `sigmas` standard deviations, the relative change and the signal's own floor. Learning clips
/// errors to it.
pub(crate) fn band_width(e: &Expectation, learning: &Learning, floor: f64) -> f64 {
    (learning.sigmas * e.sigma).max(relative_width(e, learning, floor))
}

/// How far from the expected value the relative rule reaches: `relative_change` of the expected
/// value, at least the signal's floor.
pub(crate) fn relative_width(e: &Expectation, learning: &Learning, floor: f64) -> f64 {
    (learning.relative * e.expected.abs()).max(floor)
}

/// How one step is learned.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StepLearning {
    /// Clip the forecast error to the band: how far it reaches below and above.
    pub clip: Option<(f64, f64)>,
    /// Let the level take the whole error (a breach adopted as the new normal).
    pub follow: bool,
    /// Count the step in the long window (not while an episode is under way).
    pub usual: bool,
    /// The signal's floor (smallest meaningful change), in its unit.
    pub floor: f64,
}

/// Learned behaviour of one signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SignalModel {
    /// The deseasonalised level; `None` before the first value.
    level: Option<f64>,
    /// Mean and mean square of the (clipped) forecast errors.
    spread: AdaptiveStats,
    /// Hour-of-week offsets from the level; empty until the second value.
    week: Vec<AdaptiveStats>,
    /// Hour-of-day offsets from the level; empty until the second value.
    day: Vec<AdaptiveStats>,
    /// The short window: an exponentially weighted mean of the recent standardised forecast
    /// errors (each clipped), so a sustained small shift adds up like a single large one.
    #[serde(default)]
    recent: f64,
    /// The long window: how that short mean is normally distributed for this signal (mean and
    /// variance), learned outside episodes and robustly (clipped to the threshold).
    #[serde(default)]
    usual: AdaptiveStats,
    /// The point rule's envelope: the largest standardised errors of the recent past, above and
    /// below, each decaying with the long window's half-life (learned outside episodes; a step
    /// beyond the threshold counts, clipped to it, only if it was a lone burst).
    #[serde(default)]
    peaks: (f64, f64),
    /// A step beyond the point rule's threshold, learned into the envelope once the next step
    /// shows it was a lone burst.
    #[serde(default)]
    burst: Option<f64>,
    /// The last step was beyond the point rule's threshold.
    #[serde(default)]
    in_run: bool,
    /// The shift rule's cumulative sums of excess standardised errors, above and below.
    #[serde(default)]
    shift: (f64, f64),
    /// The current excursion of each shift sum (above, below): its peak and its length in steps.
    #[serde(default)]
    excursion: [(f64, u64); 2],
    /// The envelope of the shift sums' peaks in recent short excursions (above, below), each
    /// decaying with the long window's half-life.
    #[serde(default)]
    shift_peaks: (f64, f64),
    /// The likelihood rule's short mean of the error magnitudes.
    #[serde(default)]
    magnitude: f64,
    /// How that short mean is usually distributed (learned outside episodes, clipped).
    #[serde(default)]
    magnitude_usual: AdaptiveStats,
}

impl SignalModel {
    /// The forecast for `minute`, once the model has seen a few steps.
    pub fn forecast(&self, minute: u64, learning: &Learning) -> Option<Expectation> {
        if self.spread.n < WARM_STEPS {
            return None;
        }
        let (expected, var) = self.blend(minute, learning)?;
        Some(Expectation {
            expected,
            sigma: var.max(0.0).sqrt(),
        })
    }

    /// How unusual `value` at `minute` makes the short window, in standard deviations of the
    /// short window's long-run distribution (positive above, negative below). `None` until the
    /// long window has seen enough steps to say.
    pub fn surprise(
        &self,
        value: f64,
        e: &Expectation,
        floor: f64,
        learning: &Learning,
    ) -> Option<f64> {
        if self.usual.n < learning.usual_warm {
            return None;
        }
        let recent = self.next_recent(value, e, floor, learning);
        let sd = self.usual.var.max(0.0).sqrt().max(MIN_USUAL_SD);
        Some((recent - self.usual.mean) / sd)
    }

    /// The point rule: how far this single step's standardised error reaches beyond its
    /// threshold (the larger of `point_sigmas` and `point_margin` times the envelope of recent
    /// errors in that direction), as a fraction: above 1 above, below -1 below, else within.
    /// `None` until the long window is warm or with the rule off.
    pub fn point(
        &self,
        value: f64,
        e: &Expectation,
        floor: f64,
        learning: &Learning,
    ) -> Option<f64> {
        if self.usual.n < learning.usual_warm || learning.point_margin <= 0.0 {
            return None;
        }
        let z = standardised(value - e.expected, e, floor, learning);
        let (up, down) = self.point_thresholds(learning);
        Some(if z >= 0.0 { z / up } else { z / down })
    }

    /// The shift rule (a cumulative sum, for a lasting change of level too small for the
    /// short window): the sums after `value`, as a fraction of the threshold, the larger side
    /// signed (above 1 above, below -1 below). `None` until warm or with the rule off.
    pub fn shift(
        &self,
        value: f64,
        e: &Expectation,
        floor: f64,
        learning: &Learning,
    ) -> Option<f64> {
        if self.usual.n < learning.usual_warm || learning.shift_threshold <= 0.0 {
            return None;
        }
        let (up, down) = self.next_shift(value, e, floor, learning);
        let (above, below) = self.shift_thresholds(learning);
        Some(if up / above >= down / below {
            up / above
        } else {
            -down / below
        })
    }

    /// The shift rule's thresholds above and below: the configured one, or the margin over
    /// the envelope of the sums' peaks in recent short excursions if higher.
    fn shift_thresholds(&self, learning: &Learning) -> (f64, f64) {
        let min = learning.shift_threshold;
        if learning.shift_margin <= 0.0 {
            return (min, min);
        }
        (
            (learning.shift_margin * self.shift_peaks.0).max(min),
            (learning.shift_margin * self.shift_peaks.1).max(min),
        )
    }

    /// Follows the shift sums' excursions: one that drained within the burst length teaches
    /// the envelope its peak (clipped at the threshold), when learned outside episodes.
    fn learn_excursions(&mut self, usual: bool, learning: &Learning) {
        if learning.shift_margin <= 0.0 {
            return;
        }
        let (above, below) = self.shift_thresholds(learning);
        if usual {
            let keep = 1.0 - learning.usual;
            self.shift_peaks.0 *= keep;
            self.shift_peaks.1 *= keep;
        }
        let sums = [self.shift.0, self.shift.1];
        let limits = [above, below];
        for (side, (sum, limit)) in sums.into_iter().zip(limits).enumerate() {
            let Some(run) = self.excursion.get_mut(side) else {
                continue;
            };
            if sum > 0.0 {
                run.0 = run.0.max(sum);
                run.1 = run.1.saturating_add(1);
                continue;
            }
            let (peak, steps) = std::mem::take(run);
            if usual && steps > 0 && steps <= learning.shift_burst_steps {
                let peak = peak.min(limit);
                if side == 0 {
                    self.shift_peaks.0 = self.shift_peaks.0.max(peak);
                } else {
                    self.shift_peaks.1 = self.shift_peaks.1.max(peak);
                }
            }
        }
    }

    fn next_shift(
        &self,
        value: f64,
        e: &Expectation,
        floor: f64,
        learning: &Learning,
    ) -> (f64, f64) {
        let clip = learning.shift_clip.max(learning.shift_slack);
        let z = standardised(value - e.expected, e, floor, learning).clamp(-clip, clip);
        // Bounded, so the sums fall back within a bounded time once the level has followed.
        let (above, below) = self.shift_thresholds(learning);
        (
            (self.shift.0 + z - learning.shift_slack).clamp(0.0, 2.0 * above),
            (self.shift.1 - z - learning.shift_slack).clamp(0.0, 2.0 * below),
        )
    }

    /// The likelihood rule (the tail of the recent mean of error magnitudes under their usual
    /// distribution): how far the short mean after `value` lies above its usual value, in its
    /// standard deviations. `None` until warm or with the rule off.
    pub fn likelihood(
        &self,
        value: f64,
        e: &Expectation,
        floor: f64,
        learning: &Learning,
    ) -> Option<f64> {
        if self.magnitude_usual.n < learning.usual_warm || learning.likelihood_recent <= 0.0 {
            return None;
        }
        let m = self.next_magnitude(value, e, floor, learning);
        let sd = self.magnitude_usual.var.max(0.0).sqrt().max(MIN_USUAL_SD);
        Some((m - self.magnitude_usual.mean) / sd)
    }

    fn next_magnitude(&self, value: f64, e: &Expectation, floor: f64, learning: &Learning) -> f64 {
        let z = standardised(value - e.expected, e, floor, learning).abs();
        self.magnitude + learning.likelihood_recent * (z - self.magnitude)
    }

    /// The point rule's thresholds above and below, in standard deviations.
    fn point_thresholds(&self, learning: &Learning) -> (f64, f64) {
        let min = learning.point_sigmas.max(1.0);
        (
            (learning.point_margin * self.peaks.0).max(min),
            (learning.point_margin * self.peaks.1).max(min),
        )
    }

    /// The short window after learning `value`.
    fn next_recent(&self, value: f64, e: &Expectation, floor: f64, learning: &Learning) -> f64 {
        let z = standardised(value - e.expected, e, floor, learning);
        self.recent + learning.recent * (z - self.recent)
    }

    /// Learns `value` at `minute`. The forecast error is first limited to `clip` (the band),
    /// so one outlier moves the profile and the spread no further than the band's
    /// edge. With `follow`, the level alone takes the whole error: a confirmed change of level
    /// becomes the new normal at the pace of the level's half-life. With `usual`, the short
    /// window's value counts in its long-run distribution.
    pub fn learn(&mut self, minute: u64, value: f64, step: StepLearning, learning: &Learning) {
        let StepLearning {
            clip,
            follow,
            usual,
            floor,
        } = step;
        if !value.is_finite() {
            return;
        }
        let Some((expected, _)) = self.blend(minute, learning) else {
            self.level = Some(value);
            return;
        };
        let level = self.level.unwrap_or(value);
        let error = value - expected;
        if let Some(e) = self.forecast(minute, learning) {
            self.recent = self.next_recent(value, &e, floor, learning);
            if learning.shift_threshold > 0.0 {
                self.shift = self.next_shift(value, &e, floor, learning);
                if self.usual.n >= learning.usual_warm {
                    self.learn_excursions(usual, learning);
                }
            }
            if learning.likelihood_recent > 0.0 {
                self.magnitude = self.next_magnitude(value, &e, floor, learning);
                if usual {
                    let u = &mut self.magnitude_usual;
                    let sd = u.var.max(0.0).sqrt().max(MIN_USUAL_SD);
                    let reach = learning.likelihood_sigmas.max(1.0) * sd;
                    let x = if u.n < learning.usual_warm {
                        self.magnitude
                    } else {
                        self.magnitude.clamp(u.mean - reach, u.mean + reach)
                    };
                    let d = x - u.mean;
                    u.push(x, d * d, learning.usual);
                }
            }
            if usual {
                // Robust: a value far out moves the long window no further than the threshold.
                let sd = self.usual.var.max(0.0).sqrt().max(MIN_USUAL_SD);
                let reach = learning.sigmas * sd;
                let x = if self.usual.n < learning.usual_warm {
                    self.recent
                } else {
                    self.recent
                        .clamp(self.usual.mean - reach, self.usual.mean + reach)
                };
                let d = x - self.usual.mean;
                self.usual.push(x, d * d, learning.usual);
                if self.usual.n >= learning.usual_warm {
                    let z = standardised(error, &e, floor, learning);
                    let (up, down) = self.point_thresholds(learning);
                    let keep = 1.0 - learning.usual;
                    self.peaks.0 *= keep;
                    self.peaks.1 *= keep;
                    if z > up || -z > down {
                        // Beyond the threshold: a lone burst (the next step is back within)
                        // raises the envelope to the threshold, one step late; a run of them is
                        // an incident and teaches nothing.
                        self.burst = if self.burst.is_none() && !self.in_run {
                            Some(z.clamp(-down, up))
                        } else {
                            None
                        };
                        self.in_run = true;
                    } else {
                        for x in self.burst.take().into_iter().chain([z]) {
                            self.peaks.0 = self.peaks.0.max(x);
                            self.peaks.1 = self.peaks.1.max(-x);
                        }
                        self.in_run = false;
                    }
                }
            }
        }
        let clipped = clip.map_or(error, |(below, above)| error.clamp(-below, above));
        // A young level is the plain average of its first values (the first step of a new
        // endpoint is often partial), then an exponential one with the configured half-life.
        let seen = self.spread.n.saturating_add(2);
        let rate = if seen <= LEVEL_WARM_STEPS {
            (1.0 / seen as f64).max(learning.level)
        } else {
            learning.level
        };
        self.level = Some(level + rate * if follow { error } else { clipped });
        // The slots learn the offset the clipped value implies from the (clipped) new level.
        let offset = expected + clipped - (level + rate * clipped);
        let wide = clip.map_or(error, |(below, above)| {
            let k = learning.spread_clip;
            error.clamp(-below * k, above * k)
        });
        let square = wide * wide;
        if self.week.is_empty() {
            self.week = vec![AdaptiveStats::default(); WEEK_SLOTS];
            self.day = vec![AdaptiveStats::default(); DAY_SLOTS];
        }
        if let Some(slot) = self.week.get_mut(hour_of_week(minute)) {
            slot.push(offset, square, learning.week_floor);
        }
        if let Some(slot) = self.day.get_mut(hour_of_day(minute)) {
            slot.push(offset, square, learning.day_floor);
        }
        self.spread.push(clipped, square, learning.spread);
    }

    /// Expected value and forecast-error variance at `minute`; `None` before the first value.
    fn blend(&self, minute: u64, learning: &Learning) -> Option<(f64, f64)> {
        let level = self.level?;
        let global_var = self.spread.var;
        let (Some(week), Some(day)) = (
            self.week.get(hour_of_week(minute)),
            self.day.get(hour_of_day(minute)),
        ) else {
            return Some((level, global_var));
        };
        let wd = day.weight(learning.day_prior);
        let ww = week.weight(learning.week_prior);
        let day_offset = wd * day.mean;
        let day_var = wd * day.var + (1.0 - wd) * global_var;
        let offset = ww * week.mean + (1.0 - ww) * day_offset;
        let var = ww * week.var + (1.0 - ww) * day_var;
        Some((level + offset, var))
    }
}
