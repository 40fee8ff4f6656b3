//! A small mergeable latency sketch with a relative-error guarantee (the DDSketch idea):
//! log-spaced buckets, each 3% wider than the last, from 1 µs to about two months, stored
//! sparsely. A quantile is answered with its bucket's log-midpoint, which lies within 1.5% of
//! the exact quantile (relative error `(γ − 1) / (γ + 1)` for a growth `γ` of 1.03).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Each bucket's upper bound is this many times the previous one's.
const GROWTH: f64 = 1.03;
/// The last bucket (1.03^1023 µs is about 80 days); anything longer lands in it.
const MAX_BUCKET: u16 = 1023;
/// The encoding of the buckets, stored with them (1 was a growth of 1.25, up to bucket 80).
const FORMAT: u8 = 2;
/// The growth of the first format, to read what an older version persisted.
const GROWTH_V1: f64 = 1.25;

/// Bucket counts, sorted by bucket index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Sketch {
    buckets: Vec<(u16, u32)>,
    count: u64,
}

/// The persisted form: the buckets with their format.
#[derive(Serialize, Deserialize)]
struct Stored {
    buckets: Vec<(u16, u32)>,
    count: u64,
    /// Absent in the first format.
    #[serde(default)]
    format: u8,
}

impl From<Sketch> for Stored {
    fn from(s: Sketch) -> Self {
        Self {
            buckets: s.buckets,
            count: s.count,
            format: FORMAT,
        }
    }
}

impl From<Stored> for Sketch {
    fn from(s: Stored) -> Self {
        if s.format == FORMAT {
            let mut buckets = s.buckets;
            buckets.retain(|(b, n)| *b <= MAX_BUCKET && *n > 0);
            buckets.sort_unstable_by_key(|(b, _)| *b);
            buckets.dedup_by_key(|(b, _)| *b);
            let count = buckets.iter().map(|(_, n)| u64::from(*n)).sum();
            return Self { buckets, count };
        }
        // The first format: re-bucket each old bucket's midpoint.
        let mut sketch = Self::default();
        for (b, n) in s.buckets {
            let upper = GROWTH_V1.powi(i32::from(b));
            sketch.add_micros(upper * 2.0 / (1.0 + GROWTH_V1), n);
        }
        sketch
    }
}

/// The bucket of a value (µs): the least `b` with `value ≤ GROWTH^b`, by logarithms. The
/// definition; [`bucket_of`] finds the same bucket without a logarithm.
fn bucket_by_log(micros: f64) -> u16 {
    if micros.is_nan() || micros <= 1.0 {
        return 0;
    }
    (micros.ln() / GROWTH.ln())
        .ceil()
        .min(f64::from(MAX_BUCKET)) as u16
}

/// The largest value each bucket below [`MAX_BUCKET`] holds under [`bucket_by_log`] (exactly,
/// to the last bit), computed once.
fn upper_bounds() -> &'static [f64; MAX_BUCKET as usize] {
    static UPPER: std::sync::OnceLock<[f64; MAX_BUCKET as usize]> = std::sync::OnceLock::new();
    UPPER.get_or_init(|| {
        let mut upper = [1.0; MAX_BUCKET as usize];
        for (b, u) in (0u16..).zip(upper.iter_mut()).skip(1) {
            // Start near GROWTH^b, then move bit by bit to the last value of bucket `b`
            // (the bucket of a value never decreases as the value grows).
            let mut x = GROWTH.powi(i32::from(b));
            while bucket_by_log(x) > b {
                x = x.next_down();
            }
            while bucket_by_log(x.next_up()) <= b {
                x = x.next_up();
            }
            *u = x;
        }
        upper
    })
}

/// The bucket of a value (µs), as [`bucket_by_log`] gives it: a binary search of the buckets'
/// upper bounds, a few times cheaper than a logarithm (every call adds to four sketches).
fn bucket_of(micros: f64) -> u16 {
    if micros.is_nan() || micros <= 1.0 {
        return 0;
    }
    // At most MAX_BUCKET: past the last bound everything lands in the last bucket.
    upper_bounds().partition_point(|&u| u < micros) as u16
}

/// The log-midpoint of a bucket, in ms: the value closest, relatively, to every value in it.
fn midpoint_ms(bucket: u16) -> f64 {
    if bucket == 0 {
        // Everything up to 1 µs.
        return 0.0005;
    }
    GROWTH.powi(i32::from(bucket)) * 2.0 / (1.0 + GROWTH) / 1e3
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

/// A duration's bucket, found once for all the sketches a call adds to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency(u16);

impl Latency {
    /// The bucket `d` lands in.
    pub fn of(d: Duration) -> Self {
        Latency(bucket_of(d.as_secs_f64() * 1e6))
    }
}

impl Sketch {
    /// Adds one observation.
    pub fn add(&mut self, d: Duration) {
        self.add_latency(Latency::of(d));
    }

    /// Adds one observation whose bucket is known.
    pub fn add_latency(&mut self, latency: Latency) {
        self.add_bucket(latency.0, 1);
    }

    fn add_micros(&mut self, micros: f64, n: u32) {
        if n == 0 {
            return;
        }
        self.add_bucket(bucket_of(micros), n);
    }

    fn add_bucket(&mut self, b: u16, n: u32) {
        match self.buckets.binary_search_by_key(&b, |(i, _)| *i) {
            Ok(pos) => self.buckets[pos].1 = self.buckets[pos].1.saturating_add(n),
            Err(pos) => self.buckets.insert(pos, (b, n)),
        }
        self.count += u64::from(n);
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

    /// The value (ms) of rank `⌈q·n⌉` among the observations, within 1.5% of it: the
    /// log-midpoint of the bucket holding it.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for &(b, n) in &self.buckets {
            seen += u64::from(n);
            if seen >= rank {
                return midpoint_ms(b);
            }
        }
        self.buckets.last().map_or(0.0, |(b, _)| midpoint_ms(*b))
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

    /// The exact value of rank `⌈q·n⌉` (1-based) among `sorted`.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank - 1]
    }

    #[test]
    fn quantiles_are_within_2_percent_on_skewed_data() {
        // Log-normal latencies (median 20 ms, a long tail into seconds), from a deterministic
        // generator, plus a bimodal mix of fast cache hits and slow misses.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut lognormal = Vec::new();
        let mut bimodal = Vec::new();
        for i in 0..20_000 {
            let (u1, u2) = (uniform(), uniform());
            let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            lognormal.push(20.0 * (1.2 * normal).exp());
            let fast = i % 10 != 0;
            bimodal.push(if fast {
                0.3 + 0.2 * u1
            } else {
                800.0 + 400.0 * u2
            });
        }
        for values in [lognormal, bimodal] {
            let mut sketch = Sketch::default();
            for &ms in &values {
                sketch.add(Duration::from_secs_f64(ms / 1e3));
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let q = sketch.quantiles();
            for (got, p) in [(q.p50, 0.5), (q.p90, 0.9), (q.p99, 0.99)] {
                let want = exact(&sorted, p);
                let error = (got - want).abs() / want;
                assert!(error <= 0.02, "p{p}: {got} vs exact {want} ({error})");
            }
        }
    }

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
            assert!((got - want).abs() / want <= 0.015, "{got} vs {want}");
        }
        a.merge(&b);
        assert_eq!(a.count(), 200);
        let p50 = a.quantile(0.5);
        assert!((p50 - 100.0).abs() / 100.0 <= 0.015, "{p50}");
        assert_eq!(Sketch::default().quantile(0.5), 0.0);
    }

    #[test]
    fn extremes_stay_in_range() {
        let mut s = Sketch::default();
        s.add(Duration::ZERO);
        s.add(Duration::from_secs(3600));
        s.add(Duration::from_secs(365 * 86_400));
        assert_eq!(s.buckets.len(), 3);
        assert!(s.quantile(0.0) < 0.001);
        assert!((s.quantile(0.6) - 3_600_000.0).abs() / 3_600_000.0 <= 0.015);
        assert!(s.quantile(1.0) > 10_000.0);
    }

    #[test]
    fn buckets_found_by_search_are_the_buckets_by_logarithm() {
        // Every bucket's bounds and the values next to them, to the last bit, then a sweep.
        let mut values = vec![
            f64::NAN,
            -1.0,
            0.0,
            0.5,
            1.0,
            f64::INFINITY,
            f64::MAX,
            1e300,
        ];
        for &u in upper_bounds() {
            values.extend([u.next_down(), u, u.next_up()]);
        }
        let mut x = 1.0f64;
        while x < 1e14 {
            values.push(x);
            x *= 1.000_7;
        }
        for v in values {
            assert_eq!(bucket_of(v), bucket_by_log(v), "{v}");
        }
        assert_eq!(bucket_of(1e300), MAX_BUCKET);
    }

    #[test]
    fn persisted_sketches_round_trip_and_old_ones_are_read() {
        let mut s = Sketch::default();
        for ms in [3u64, 40, 40, 700] {
            s.add(Duration::from_millis(ms));
        }
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"format\":2"), "{text}");
        let back: Sketch = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        // The first format: buckets of growth 1.25 in µs (bucket 45 holds 18.4 ms to 23.0 ms,
        // bucket 60 about 522 ms to 653 ms).
        let old: Sketch = serde_json::from_str(r#"{"buckets":[[45,3],[60,1]],"count":4}"#).unwrap();
        assert_eq!(old.count(), 4);
        let p50 = old.quantile(0.5);
        assert!((18.4..23.0).contains(&p50), "{p50}");
        assert!((522.0..653.0).contains(&old.quantile(1.0)));
    }
}
