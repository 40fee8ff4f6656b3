//! How heavy a signal's tails are: a decaying histogram of its standardised forecast errors.
//!
//! A bursty series regularly jumps many standard deviations; a quiet one never does. The
//! detector raises its absolute rule to the level this series' own history rarely exceeds, so a
//! heavy-tailed endpoint does not page at every burst while a quiet one stays sensitive.

use serde::{Deserialize, Serialize};

/// Histogram bins: one below 1σ, then quarter-octaves from 1σ up to 64σ and beyond.
const BINS: usize = 26;
/// Quarter-octave bins per doubling.
const PER_OCTAVE: f64 = 4.0;

/// Decaying counts of `|error| / σ`, binned on a log scale.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TailHistogram {
    /// Decayed counts per bin; empty until the first value.
    bins: Vec<f64>,
    /// Their sum.
    total: f64,
}

impl TailHistogram {
    /// Ages every count by `decay` (0–1), then counts `z`.
    pub fn record(&mut self, z: f64, decay: f64) {
        if !z.is_finite() || z < 0.0 {
            return;
        }
        if self.bins.is_empty() {
            self.bins = vec![0.0; BINS];
        }
        let keep = 1.0 - decay.clamp(0.0, 1.0);
        for b in &mut self.bins {
            *b *= keep;
        }
        self.total = self.total * keep + 1.0;
        if let Some(b) = self.bins.get_mut(bin(z)) {
            *b += 1.0;
        }
    }

    /// The smallest bin edge that at most `share` of the recorded mass reaches; 0 when empty.
    /// With less history than `1 / share` values, this is above every value seen.
    pub fn threshold(&self, share: f64) -> f64 {
        let allowed = share.max(0.0) * self.total;
        let mut above = 0.0;
        for (i, count) in self.bins.iter().enumerate().rev() {
            above += count;
            if above > allowed {
                return lower_edge(i + 1);
            }
        }
        0.0
    }
}

fn bin(z: f64) -> usize {
    if z < 1.0 {
        0
    } else {
        ((z.log2() * PER_OCTAVE).floor() as usize + 1).min(BINS - 1)
    }
}

/// The lowest `z` that falls in bin `i` (bin 0 starts at 0).
fn lower_edge(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        2f64.powf((i - 1) as f64 / PER_OCTAVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_edges_agree() {
        for z in [0.0, 0.5, 1.0, 1.3, 2.0, 3.9, 17.0, 63.0, 1000.0] {
            let i = bin(z);
            assert!(lower_edge(i) <= z, "{z}");
            if i + 1 < BINS {
                assert!(z < lower_edge(i + 1), "{z}");
            }
        }
    }

    #[test]
    fn threshold_tracks_the_tail() {
        let mut h = TailHistogram::default();
        assert_eq!(h.threshold(0.01), 0.0);
        for i in 0..1000 {
            // 2% of the values at 10σ, the rest below 1σ.
            h.record(if i % 50 == 0 { 10.0 } else { 0.5 }, 0.0);
        }
        let t = h.threshold(0.01);
        assert!(t > 10.0 && t < 12.0, "{t}");
        assert!(h.threshold(0.05) <= 1.0);
    }

    #[test]
    fn young_history_is_conservative() {
        let mut h = TailHistogram::default();
        for _ in 0..10 {
            h.record(3.0, 0.0);
        }
        assert!(h.threshold(0.001) > 3.0);
    }
}
