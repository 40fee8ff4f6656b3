//! Adaptive mean and variance: a running average at first, an exponential one once warm.

use serde::{Deserialize, Serialize};

/// The smoothing factor per step for a half-life, both in minutes.
pub(crate) fn alpha_for_half_life(half_life_minutes: f64, step_minutes: f64) -> f64 {
    if half_life_minutes <= 0.0 || !half_life_minutes.is_finite() {
        return 1.0;
    }
    1.0 - 0.5f64.powf(step_minutes / half_life_minutes)
}

/// Mean and variance of a stream, weighting each new value by `max(1/n, floor)`: the plain
/// average of the first `1/floor` values, then an exponentially weighted one that follows drift.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdaptiveStats {
    /// Weighted mean of the values.
    pub mean: f64,
    /// Weighted mean of the squared deviations passed in.
    pub var: f64,
    /// Values seen (saturating).
    pub n: u64,
}

impl AdaptiveStats {
    /// Learns `value` for the mean and `square` (a squared deviation) for the variance.
    pub fn push(&mut self, value: f64, square: f64, floor: f64) {
        self.n = self.n.saturating_add(1);
        let w = (1.0 / self.n as f64).max(floor);
        self.mean += w * (value - self.mean);
        self.var += w * (square - self.var);
    }

    /// How far the stats are trusted against a prior worth `prior` observations: `n / (n + prior)`.
    pub fn weight(&self, prior: f64) -> f64 {
        let n = self.n as f64;
        if n <= 0.0 {
            0.0
        } else {
            n / (n + prior.max(0.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_average_while_young() {
        let mut s = AdaptiveStats::default();
        for v in [1.0, 2.0, 3.0] {
            s.push(v, v * v, 0.01);
        }
        assert!((s.mean - 2.0).abs() < 1e-12);
        assert!((s.var - 14.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.n, 3);
    }

    #[test]
    fn follows_drift_once_warm() {
        let mut s = AdaptiveStats::default();
        for _ in 0..1000 {
            s.push(10.0, 0.0, 0.1);
        }
        for _ in 0..100 {
            s.push(20.0, 0.0, 0.1);
        }
        assert!((s.mean - 20.0).abs() < 0.01);
    }

    #[test]
    fn half_life() {
        let a = alpha_for_half_life(60.0, 1.0);
        assert!(((1.0 - a).powi(60) - 0.5).abs() < 1e-9);
        assert_eq!(alpha_for_half_life(0.0, 1.0), 1.0);
        assert!((alpha_for_half_life(60.0, 60.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn weight_grows_with_observations() {
        let mut s = AdaptiveStats::default();
        assert_eq!(s.weight(10.0), 0.0);
        for _ in 0..10 {
            s.push(1.0, 0.0, 0.0);
        }
        assert!((s.weight(10.0) - 0.5).abs() < 1e-12);
    }
}
