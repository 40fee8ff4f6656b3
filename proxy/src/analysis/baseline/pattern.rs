//! The pattern rule: how far the last few steps' shape lies from every shape seen recently.
//!
//! The last `window` values, each normalised by the signal's long-run mean and standard
//! deviation, form a short subsequence. A ring keeps the subsequences of the last `capacity`
//! steps; the score of a step is the root-mean-square distance from its subsequence to the
//! nearest one in the ring, leaving out those that overlap it. That distance is judged twice:
//! its logarithm against its own long-run distribution (mean and variance, learned robustly),
//! and the distance itself against a decaying envelope of the distances of the recent past (as
//! the point rule judges errors). Bounded: `capacity + window` subsequences of `window` values
//! per signal, and one pass over the ring per step.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Steps over which the normalisation is a plain average before it is exponentially weighted.
const NORM_WARM_STEPS: f64 = 50.0;

/// Steps over which the distances' distribution is a plain average.
const SCORE_WARM_STEPS: f64 = 100.0;

/// Smallest standard deviation of the log distance assumed.
const MIN_SCORE_SD: f64 = 0.05;

/// Added to a distance before its logarithm (an exact repeat has distance 0).
const DISTANCE_OFFSET: f64 = 1e-3;

/// The pattern rule's tunables, derived from the config and the step length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PatternLearning {
    /// Values per subsequence (0: the rule is off).
    pub window: usize,
    /// Subsequences kept to compare with.
    pub capacity: usize,
    /// The log distance must lie this many of its standard deviations above its usual value.
    pub sigmas: f64,
    /// The distance must exceed this multiple of the envelope of recent distances.
    pub margin: f64,
    /// Weight of a new step in the normalisation and the envelope (the long window's).
    pub usual: f64,
    /// Weight of a new step in the distances' distribution, once warm.
    pub score: f64,
    /// The subsequences are of standardised forecast errors instead of values.
    pub errors: bool,
}

/// The memory of one signal's recent shapes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PatternMemory {
    /// Mean and variance of the values, for the normalisation.
    mean: f64,
    var: f64,
    seen: f64,
    /// The last `window` raw values.
    last: VecDeque<f64>,
    /// The normalised subsequences of the recent steps, newest last.
    ring: VecDeque<Vec<f32>>,
    /// Mean and variance of the log distances, and how many were learned.
    score_mean: f64,
    score_var: f64,
    scored: f64,
    /// The largest distance of the recent past, decaying with the long window's half-life.
    envelope: f64,
}

impl PatternMemory {
    /// The subsequence ending with `value`, normalised; `None` until `window` values are known.
    fn shape(&self, value: f64, p: &PatternLearning) -> Option<Vec<f32>> {
        if self.last.len() + 1 < p.window {
            return None;
        }
        let sd = self
            .var
            .max(0.0)
            .sqrt()
            .max(0.01 * self.mean.abs())
            .max(1e-9);
        let skip = (self.last.len() + 1).saturating_sub(p.window);
        let shape = self
            .last
            .iter()
            .skip(skip)
            .chain([&value])
            .map(|v| ((v - self.mean) / sd) as f32)
            .collect();
        Some(shape)
    }

    /// The root-mean-square distance from `shape` to the nearest stored subsequence that does
    /// not overlap it; `None` while the ring is not full.
    fn nearest(&self, shape: &[f32], p: &PatternLearning) -> Option<f64> {
        let usable = self.ring.len().saturating_sub(p.window);
        if usable < p.capacity {
            return None;
        }
        let mut best = f32::INFINITY;
        for stored in self.ring.iter().take(usable) {
            let mut sum = 0.0f32;
            for (a, b) in shape.iter().zip(stored) {
                let d = a - b;
                sum += d * d;
                if sum >= best {
                    break;
                }
            }
            best = best.min(sum);
        }
        Some((f64::from(best) / p.window as f64).sqrt())
    }

    /// The rule for `value`: the log distance's standardised excess over its usual value, as a
    /// fraction of `sigmas`, when the distance also exceeds the envelope's margin; 0 otherwise.
    /// `None` while the memory is young or with the rule off.
    pub fn judge(&self, value: f64, p: &PatternLearning) -> Option<f64> {
        let distance = self.distance(value, p)?;
        if self.scored < SCORE_WARM_STEPS {
            return None;
        }
        let z = self.standardised(distance);
        Some(if distance > p.margin * self.envelope {
            z / p.sigmas.max(1e-9)
        } else {
            0.0
        })
    }

    fn distance(&self, value: f64, p: &PatternLearning) -> Option<f64> {
        if p.window == 0 || !value.is_finite() {
            return None;
        }
        self.nearest(&self.shape(value, p)?, p)
    }

    fn standardised(&self, distance: f64) -> f64 {
        let sd = self.score_var.max(0.0).sqrt().max(MIN_SCORE_SD);
        ((distance + DISTANCE_OFFSET).ln() - self.score_mean) / sd
    }

    /// Learns `value`. With `usual` (outside episodes), the distance counts in its long-run
    /// distribution and in the envelope.
    pub fn learn(&mut self, value: f64, usual: bool, p: &PatternLearning) {
        if p.window == 0 || !value.is_finite() {
            return;
        }
        if let Some(distance) = self.distance(value, p) {
            let warm = self.scored >= SCORE_WARM_STEPS;
            let z = self.standardised(distance);
            let beyond = warm && z > p.sigmas && distance > p.margin * self.envelope;
            if usual || !warm {
                // Robust once warm: a far distance moves the distribution no further than the
                // threshold.
                let x = if warm {
                    let sd = self.score_var.max(0.0).sqrt().max(MIN_SCORE_SD);
                    self.score_mean + z.clamp(-p.sigmas, p.sigmas) * sd
                } else {
                    (distance + DISTANCE_OFFSET).ln()
                };
                self.scored += 1.0;
                let w = (1.0 / self.scored).max(if warm { p.score } else { 0.0 });
                let d = x - self.score_mean;
                self.score_mean += w * d;
                self.score_var = (1.0 - w) * (self.score_var + w * d * d);
            }
            self.envelope *= 1.0 - p.usual;
            if usual && !beyond {
                self.envelope = self.envelope.max(distance);
            }
        }
        if let Some(shape) = self.shape(value, p) {
            self.ring.push_back(shape);
            while self.ring.len() > p.capacity + p.window {
                self.ring.pop_front();
            }
        }
        self.last.push_back(value);
        while self.last.len() > p.window {
            self.last.pop_front();
        }
        self.seen += 1.0;
        let w = (1.0 / self.seen).max(if self.seen > NORM_WARM_STEPS {
            p.usual
        } else {
            0.0
        });
        let d = value - self.mean;
        self.mean += w * d;
        self.var = (1.0 - w) * (self.var + w * d * d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learning() -> PatternLearning {
        PatternLearning {
            window: 8,
            capacity: 64,
            sigmas: 3.0,
            margin: 1.25,
            usual: 0.001,
            score: 0.01,
            errors: false,
        }
    }

    #[test]
    fn a_new_shape_stands_out_and_a_repeated_one_does_not() {
        let p = learning();
        let mut m = PatternMemory::default();
        // A square wave of period 16: every shape repeats.
        let wave = |i: usize| if (i / 8) % 2 == 0 { 10.0 } else { 20.0 };
        for i in 0..600 {
            m.learn(wave(i), true, &p);
        }
        assert!(m.judge(wave(600), &p).is_some_and(|s| s < 1.0));
        // A value never seen in that position makes a shape far from all stored ones.
        assert!(m.judge(60.0, &p).is_some_and(|s| s > 1.0));
        assert!(m.ring.len() <= p.capacity + p.window);
    }

    #[test]
    fn off_or_young_says_nothing() {
        let mut m = PatternMemory::default();
        let off = PatternLearning::default();
        m.learn(1.0, true, &off);
        assert_eq!(m.judge(1.0, &off), None);
        let p = learning();
        m.learn(1.0, true, &p);
        assert_eq!(m.judge(5.0, &p), None);
    }
}
