//! The model of one signal: an adaptive level plus hour-of-week and hour-of-day offsets.
//!
//! Forecast for minute `m`: `level + offset(m)`, where the offset is the hour-of-week slot's
//! learned offset, blended (by how many observations each slot has) with the hour-of-day slot's,
//! itself blended with zero. The spread is blended the same way down to the global spread of
//! forecast errors. A young profile thus falls back on the daily shape, then on the plain level.

use super::calendar::{hour_of_day, hour_of_week, DAY_SLOTS, WEEK_SLOTS};
use super::stats::AdaptiveStats;
use super::tail::TailHistogram;
use serde::{Deserialize, Serialize};

/// Forecast errors the global spread must have seen before the model forecasts at all.
const WARM_STEPS: u64 = 3;

/// What the baseline expects for one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expectation {
    /// The expected value.
    pub expected: f64,
    /// The standard deviation of the forecast error.
    pub sigma: f64,
    /// The absolute rule in force above the expected value, in standard deviations: the
    /// configured one, raised to what this signal's own rises rarely exceeded.
    pub sigmas_above: f64,
    /// The same below the expected value, from this signal's own falls.
    pub sigmas_below: f64,
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
    /// Weight by which the tail histogram ages per step.
    pub tail_decay: f64,
    /// Share of steps the tail rule lets through.
    pub tail_share: f64,
    /// Consecutive steps a breach must last: the tail rule measures runs this long.
    pub persist: u64,
}

/// How far below and above the expected value the band reaches: the larger of the absolute rule,
/// the relative rule and the signal's own floor. A step outside breaches both rules.
pub(crate) fn band_widths(e: &Expectation, learning: &Learning, floor: f64) -> (f64, f64) {
    let relative = (learning.relative * e.expected.abs()).max(floor);
    (
        (e.sigmas_below * e.sigma).max(relative),
        (e.sigmas_above * e.sigma).max(relative),
    )
}

/// How one step is learned.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StepLearning {
    /// Clip the forecast error to the band: how far it reaches below and above.
    pub clip: Option<(f64, f64)>,
    /// Let the level take the whole error (a breach adopted as the new normal).
    pub follow: bool,
    /// Count the step in the tail histogram.
    pub tail: bool,
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
    /// Standardised errors of the steps above the forecast, for the tail rule.
    rises: TailHistogram,
    /// Standardised errors (magnitudes) of the steps below the forecast.
    falls: TailHistogram,
    /// Standardised errors of the last steps (one less than the persistence).
    recent: Vec<f64>,
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
            sigmas_above: learning
                .sigmas
                .max(self.rises.threshold(learning.tail_share)),
            sigmas_below: learning
                .sigmas
                .max(self.falls.threshold(learning.tail_share)),
        })
    }

    /// Learns `value` at `minute`. The forecast error is first limited to `clip` (the band),
    /// so one outlier moves the profile and the spread no further than the band's
    /// edge. With `follow`, the level alone takes the whole error: a confirmed change of level
    /// becomes the new normal at the pace of the level's half-life. With `tail`, the step's
    /// standardised error counts in the tail histogram.
    pub fn learn(&mut self, minute: u64, value: f64, step: StepLearning, learning: &Learning) {
        let StepLearning { clip, follow, tail } = step;
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
            let z = if e.sigma > 0.0 { error / e.sigma } else { 0.0 };
            if tail && e.sigma > 0.0 {
                // What a breach must beat is a run of `persist` steps, so each side records the
                // run's weakest step; and every step (zero on the other side), so both
                // histograms measure a share of all steps.
                let run = || self.recent.iter().copied().chain([z]);
                let up = run().fold(f64::INFINITY, |m, z| m.min(z.max(0.0)));
                let down = run().fold(f64::INFINITY, |m, z| m.min((-z).max(0.0)));
                self.rises.record(up, learning.tail_decay);
                self.falls.record(down, learning.tail_decay);
            }
            let keep = learning.persist.saturating_sub(1) as usize;
            self.recent.push(z);
            if self.recent.len() > keep {
                let excess = self.recent.len() - keep;
                self.recent.drain(..excess);
            }
        }
        let clipped = clip.map_or(error, |(below, above)| error.clamp(-below, above));
        self.level = Some(level + learning.level * if follow { error } else { clipped });
        // The slots learn the offset the clipped value implies from the (clipped) new level.
        let offset = expected + clipped - (level + learning.level * clipped);
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
