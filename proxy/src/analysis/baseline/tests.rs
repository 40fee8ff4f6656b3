//! Synthetic traffic with injected anomalies, and series that must stay silent.

use super::*;

/// 2015-03-02 00:00 UTC, a Monday.
const MONDAY: u64 = 16_496 * 1440;
const DAY: u64 = 1440;

/// A small deterministic generator (64-bit LCG, Knuth's constants).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly standard normal (Irwin–Hall with 12 terms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.uniform()).sum::<f64>() - 6.0
    }

    /// A count around `mean` with Poisson-like spread.
    fn count(&mut self, mean: f64) -> u64 {
        (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
    }
}

/// Normal traffic of a busy endpoint: ~`mean` calls, 1% errors, p90 ~ 50 ms.
fn normal(rng: &mut Lcg, minute: u64, mean: f64) -> MinuteSample {
    let count = rng.count(mean);
    MinuteSample {
        minute,
        count,
        errors: rng.count(count as f64 * 0.01),
        latency_ms: 50.0 + 4.0 * rng.normal(),
    }
}

/// Feeds `minutes` of normal traffic from `start`; returns what was reported.
fn warm(d: &mut Detector, rng: &mut Lcg, start: u64, minutes: u64, mean: f64) -> Vec<Anomaly> {
    (start..start + minutes)
        .flat_map(|m| d.observe(&normal(rng, m, mean)))
        .collect()
}

/// Three days of steady traffic, past the learning period.
fn warmed() -> (Detector, Lcg, u64) {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(7);
    let quiet = warm(&mut d, &mut rng, MONDAY, 3 * DAY, 100.0);
    assert!(quiet.is_empty(), "steady traffic reported {quiet:?}");
    assert!(!d.learning());
    (d, rng, MONDAY + 3 * DAY)
}

fn kinds(found: &[Anomaly]) -> Vec<AnomalyKind> {
    found.iter().map(|a| a.kind).collect()
}

#[test]
fn spike_fires_once_within_persistence() {
    let (mut d, mut rng, t) = warmed();
    let mut found = Vec::new();
    for m in t..t + 20 {
        let mut s = normal(&mut rng, m, 100.0);
        s.count *= 4;
        for a in d.observe(&s) {
            found.push((m - t, a));
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    let (offset, a) = &found[0];
    assert_eq!(*offset, 2, "fires on the third minute");
    assert_eq!(a.kind, AnomalyKind::RateSpike);
    assert_eq!(a.signal, Signal::Rate);
    assert_eq!(a.window_minutes, 3);
    assert!(a.observed > a.band.1 && a.expected > 80.0 && a.expected < 130.0);
    // Back to normal: no drop is reported for the return to the usual level.
    assert!(warm(&mut d, &mut rng, t + 20, 120, 100.0).is_empty());
}

#[test]
fn silence_of_a_busy_endpoint_is_a_drop() {
    let (mut d, _, t) = warmed();
    let found: Vec<_> = (t..t + 30).flat_map(|m| d.observe_gap(m)).collect();
    assert_eq!(kinds(&found), vec![AnomalyKind::RateDrop]);
    // Right after the persistence: the point rule sees the first silent minute as far below
    // anything the endpoint did before (the short window's score is still on its way down).
    assert_eq!(found[0].minute, t + 2, "{found:?}");
    assert_eq!(found[0].observed, 0.0);
    assert!(found[0].score < 0.0);
    assert!(found[0].band.0 > 0.0);
}

#[test]
fn episodes_re_arm_after_recovery() {
    let (mut d, mut rng, t) = warmed();
    let mut found = Vec::new();
    // A second outage within the re-arm period belongs to the same episode; after a calm as
    // long as the re-arm period, it is a new one.
    let rearm = d.config().rearm_minutes;
    let outages = [t, t + 120, t + 120 + rearm + 60];
    for (i, &start) in outages.iter().enumerate() {
        found.extend((start..start + 10).flat_map(|m| d.observe_gap(m)));
        let next = outages.get(i + 1).copied().unwrap_or(start + 120);
        found.extend(warm(&mut d, &mut rng, start + 10, next - start - 10, 100.0));
    }
    assert_eq!(kinds(&found), vec![AnomalyKind::RateDrop; 2], "{found:?}");
}

#[test]
fn error_surge_is_detected() {
    let (mut d, mut rng, t) = warmed();
    let mut found = Vec::new();
    for m in t..t + 10 {
        let mut s = normal(&mut rng, m, 100.0);
        s.errors = s.count * 3 / 10;
        found.extend(d.observe(&s));
    }
    assert_eq!(kinds(&found), vec![AnomalyKind::ErrorSurge]);
    assert!((t + 2..=t + 5).contains(&found[0].minute), "{found:?}");
    assert!(found[0].expected < 0.03 && found[0].observed > 0.25);
}

#[test]
fn slowdown_is_detected() {
    let (mut d, mut rng, t) = warmed();
    let mut found = Vec::new();
    for m in t..t + 10 {
        let mut s = normal(&mut rng, m, 100.0);
        s.latency_ms *= 6.0;
        found.extend(d.observe(&s));
    }
    assert_eq!(kinds(&found), vec![AnomalyKind::LatencyDegradation]);
    assert_eq!(found[0].minute, t + 2);
    assert_eq!(found[0].signal, Signal::Latency);
}

#[test]
fn nothing_during_learning() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(11);
    let mut found = warm(&mut d, &mut rng, MONDAY, 600, 100.0);
    // Spike, silence, errors and slowness, all before 2016 minutes of history.
    for m in MONDAY + 600..MONDAY + 630 {
        let mut s = normal(&mut rng, m, 100.0);
        s.count *= 5;
        s.errors = s.count / 2;
        s.latency_ms *= 10.0;
        found.extend(d.observe(&s));
    }
    found.extend((MONDAY + 630..MONDAY + 660).flat_map(|m| d.observe_gap(m)));
    found.extend(warm(&mut d, &mut rng, MONDAY + 660, 1300, 100.0));
    assert!(d.learning());
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn noisy_daily_sine_stays_silent_for_two_weeks() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(42);
    let mut found = Vec::new();
    for m in MONDAY..MONDAY + 14 * DAY {
        let phase = (m % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
        let mean = 200.0 + 150.0 * phase.sin();
        let mut s = normal(&mut rng, m, mean);
        // Extra noise beyond Poisson: +-10% multiplicative.
        s.count = (s.count as f64 * (1.0 + 0.1 * rng.normal())).max(0.0) as u64;
        found.extend(d.observe(&s));
    }
    assert!(found.len() <= 3, "{} alerts: {found:?}", found.len());
}

#[test]
fn recurring_daily_peak_is_learned() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(5);
    let mut late = Vec::new();
    for m in MONDAY..MONDAY + 14 * DAY {
        // Ten times the traffic from 09:00 to 10:00 every day.
        let hour = (m % DAY) / 60;
        let mean = if hour == 9 { 500.0 } else { 50.0 };
        let found = d.observe(&normal(&mut rng, m, mean));
        if m >= MONDAY + 7 * DAY {
            late.extend(found);
        }
    }
    assert!(late.is_empty(), "{late:?}");
    // The profile expects the peak.
    let peak = MONDAY + 14 * DAY + 9 * 60 + 30;
    let e = d.baseline().expectation(Signal::Rate, peak);
    assert!(e.is_some_and(|e| e.expected > 300.0), "{e:?}");
}

#[test]
fn weekly_profile_learns_the_weekend() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(9);
    let mut late = Vec::new();
    for m in MONDAY..MONDAY + 28 * DAY {
        let weekend = (m - MONDAY) / DAY % 7 >= 5;
        let found = d.observe(&normal(&mut rng, m, if weekend { 20.0 } else { 200.0 }));
        if m >= MONDAY + 21 * DAY {
            late.extend(found);
        }
    }
    assert!(late.is_empty(), "{late:?}");
    let saturday = MONDAY + 33 * DAY + 12 * 60;
    let e = d.baseline().expectation(Signal::Rate, saturday);
    assert!(e.is_some_and(|e| e.expected < 80.0), "{e:?}");
}

#[test]
fn tiny_endpoint_jitter_never_fires() {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(3);
    let mut found = Vec::new();
    for m in MONDAY..MONDAY + 7 * DAY {
        // Mostly idle, sometimes a burst of up to 9 calls, some of them failing and slow.
        let count = if rng.uniform() < 0.05 {
            (rng.uniform() * 10.0) as u64
        } else {
            u64::from(rng.uniform() < 0.3)
        };
        let sample = MinuteSample {
            minute: m,
            count,
            errors: count / 2,
            latency_ms: 20.0 + 500.0 * rng.uniform(),
        };
        found.extend(if count == 0 {
            d.observe_gap(m)
        } else {
            d.observe(&sample)
        });
    }
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn serialisation_round_trip() {
    let (d, mut rng, t) = warmed();
    let text = serde_json::to_string(d.baseline()).unwrap();
    let back: Baseline = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, d.baseline());
    assert_eq!(
        back.expectation(Signal::Rate, t),
        d.baseline().expectation(Signal::Rate, t)
    );
    // A detector resumed from its JSON behaves exactly like the original.
    let text = serde_json::to_string(&d).unwrap();
    let mut resumed: Detector = serde_json::from_str(&text).unwrap();
    let mut original = d;
    for m in t..t + 60 {
        let mut s = normal(&mut rng, m, 100.0);
        if m > t + 30 {
            s.count *= 3;
        }
        assert_eq!(original.observe(&s), resumed.observe(&s));
    }
    assert_eq!(original, resumed);
    let a = serde_json::to_value(Anomaly {
        kind: AnomalyKind::RateDrop,
        minute: 1,
        observed: 0.0,
        expected: 100.0,
        band: (50.0, 150.0),
        score: -6.0,
        window_minutes: 3,
        signal: Signal::Rate,
        rule: Rule::Point,
        margin: 1.5,
    })
    .unwrap();
    assert_eq!(a["kind"], "rate_drop");
    assert_eq!(a["band"], serde_json::json!([50.0, 150.0]));
    assert_eq!(
        (a["rule"].clone(), a["margin"].clone()),
        ("point".into(), 1.5.into())
    );
    // An anomaly serialised before the rule was recorded still reads.
    let mut old = a.clone();
    old.as_object_mut()
        .unwrap()
        .retain(|k, _| k != "rule" && k != "margin");
    let old: Anomaly = serde_json::from_value(old).unwrap();
    assert_eq!((old.rule, old.margin), (Rule::Absolute, 0.0));
}

/// A baseline restored under other tunables (a newer version's) judges with them, not with the
/// ones it was stored with: here a wider relative band.
#[test]
fn a_restored_baseline_judges_with_the_configured_tunables() {
    let (d, rng, t) = warmed();
    let stored = serde_json::to_string(d.baseline()).unwrap();
    let findings = |config: DetectorConfig| {
        let baseline: Baseline = serde_json::from_str(&stored).unwrap();
        let mut resumed = Detector::from_baseline(config, baseline);
        let mut rng = Lcg(rng.0);
        (t..t + 20)
            .flat_map(|m| {
                let mut s = normal(&mut rng, m, 100.0);
                s.count = s.count * 8 / 5;
                resumed.observe(&s)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&findings(DetectorConfig::default())),
        vec![AnomalyKind::RateSpike]
    );
    let wider = DetectorConfig {
        relative_change: 1.0,
        ..DetectorConfig::default()
    };
    assert_eq!(findings(wider), vec![], "a 60% rise is inside a 100% band");
}

#[test]
fn out_of_order_minutes_are_ignored() {
    let (mut d, _, t) = warmed();
    let before = d.clone();
    assert!(d.observe_gap(t - 5).is_empty());
    assert_eq!(d, before);
    let mut b = d.baseline().clone();
    assert!(!b.observe_gap(t - 1));
    assert!(b.observe_gap(t));
}

#[test]
fn steps_convert_minutes() {
    let c = DetectorConfig::default();
    assert_eq!(c.persistence_steps(1), 3);
    assert_eq!(c.persistence_steps(5), 1);
    assert_eq!(c.learning_steps(5), 404);
    assert_eq!(c.min_rate_per_step(5), 50.0);
    let d = Detector::with_step(c, 5);
    assert_eq!(d.baseline().step_minutes(), 5);
}

#[test]
fn minute_sample_conversion() {
    let o = Observation::from(&MinuteSample {
        minute: 3,
        count: 4,
        errors: 9,
        latency_ms: f64::NAN,
    });
    assert_eq!(o.rate, 4.0);
    assert_eq!(o.error_ratio, Some(1.0));
    assert_eq!(o.latency_ms, None);
    let silent = Observation::from(&MinuteSample::silent(3));
    assert_eq!((silent.error_ratio, silent.latency_ms), (None, None));
}

/// The demo's settings: short learning, compressed steps, low traffic.
fn short_learning() -> DetectorConfig {
    DetectorConfig {
        learning_minutes: 20,
        min_rate: 2.0,
        ..DetectorConfig::default()
    }
}

#[test]
fn a_partial_first_step_does_not_bias_the_level() {
    // A new endpoint is first seen part-way through a step: 1 call, then ~30 a step.
    let mut d = Detector::new(short_learning());
    let mut rng = Lcg(11);
    d.observe(&MinuteSample {
        minute: MONDAY,
        count: 1,
        errors: 0,
        latency_ms: 50.0,
    });
    let found = warm(&mut d, &mut rng, MONDAY + 1, 20, 30.0);
    assert!(found.is_empty(), "{found:?}");
    // Still in the first hour's profile slot, and in the next one, which is young, so the
    // level rules there: it is the average of the first steps, not the first step's 1 call.
    for m in [MONDAY + 21, MONDAY + 61] {
        let e = d.baseline().expectation(Signal::Rate, m);
        assert!(
            e.is_some_and(|e| (e.expected - 30.0).abs() < 4.5),
            "{m}: {e:?}"
        );
    }
}

#[test]
fn a_flash_crowd_right_after_a_short_learning_is_reported() {
    // ~3 calls a step, then nine times as many: within a few steps, as in the demo.
    for seed in 1..=20 {
        let mut d = Detector::new(short_learning());
        let mut rng = Lcg(seed);
        d.observe(&MinuteSample::silent(MONDAY));
        let quiet = warm(&mut d, &mut rng, MONDAY + 1, 29, 3.0);
        assert!(quiet.is_empty(), "seed {seed}: {quiet:?}");
        let crowd = warm(&mut d, &mut rng, MONDAY + 30, 20, 27.0);
        let spikes = crowd
            .iter()
            .filter(|a| a.kind == AnomalyKind::RateSpike)
            .count();
        assert_eq!(spikes, 1, "seed {seed}: {crowd:?}");
    }
}

/// A daily peak at 09:00–10:00 Berlin time, ten times the usual traffic, for five weeks that
/// cross the change to summer time (2015-03-29): what the detector reports from the second
/// week on, with the profiles in `timezone`.
fn local_peak_findings(timezone: Option<&str>) -> Vec<Anomaly> {
    let berlin = Zone::new(Some("Europe/Berlin")).unwrap();
    let mut d = Detector::new(DetectorConfig {
        timezone: timezone.map(str::to_string),
        ..DetectorConfig::default()
    });
    let mut rng = Lcg(17);
    let mut late = Vec::new();
    for m in MONDAY..MONDAY + 35 * DAY {
        let hour = (berlin.local(m) % DAY) / 60;
        let mean = if hour == 9 { 500.0 } else { 50.0 };
        let found = d.observe(&normal(&mut rng, m, mean));
        if m >= MONDAY + 7 * DAY {
            late.extend(found);
        }
    }
    late
}

#[test]
fn a_local_daily_peak_stays_silent_across_daylight_saving() {
    let local = local_peak_findings(Some("Europe/Berlin"));
    assert!(local.is_empty(), "{local:?}");
    // Profiles kept in UTC see the peak move an hour earlier: that is what the zone prevents.
    let utc = local_peak_findings(None);
    assert!(!utc.is_empty());
}

/// Steps (1-minute) from the start of an anomaly to its finding, with the default settings
/// after three days of ~100 calls a minute, 1% errors, p90 ~50 ms.
fn steps_to_detect(kind: AnomalyKind, change: impl Fn(&mut MinuteSample)) -> Option<u64> {
    let (mut d, mut rng, t) = warmed();
    for m in t..t + 30 {
        let mut s = normal(&mut rng, m, 100.0);
        change(&mut s);
        let found = if s.count == 0 {
            d.observe_gap(m)
        } else {
            d.observe(&s)
        };
        if let Some(a) = found.iter().find(|a| a.kind == kind) {
            return Some(a.minute - t + 1);
        }
    }
    None
}

#[test]
fn time_to_detect_per_kind() {
    let spike = steps_to_detect(AnomalyKind::RateSpike, |s| s.count *= 5);
    let drop = steps_to_detect(AnomalyKind::RateDrop, |s| {
        *s = MinuteSample::silent(s.minute)
    });
    let errors = steps_to_detect(AnomalyKind::ErrorSurge, |s| s.errors = s.count / 5);
    let slow = steps_to_detect(AnomalyKind::LatencyDegradation, |s| s.latency_ms *= 3.0);
    eprintln!(
        "steps to detect: 5x spike {spike:?}, drop to zero {drop:?}, 20% errors {errors:?}, \
         3x latency {slow:?}"
    );
    assert!(spike.is_some_and(|n| n <= 3), "{spike:?}");
    assert!(drop.is_some_and(|n| n <= 5), "{drop:?}");
    assert!(errors.is_some_and(|n| n <= 3), "{errors:?}");
    assert!(slow.is_some_and(|n| n <= 5), "{slow:?}");
}

#[test]
fn the_binomial_tail_matches_hand_computed_values() {
    use super::detector::binomial_tail;
    assert_eq!(binomial_tail(5, 0, 0.01), 1.0);
    assert_eq!(binomial_tail(5, 6, 0.01), 0.0);
    // 1 − 0.99⁵ and 1 − 0.99⁵ − 5 · 0.01 · 0.99⁴.
    assert!((binomial_tail(5, 1, 0.01) - 0.049_009_9).abs() < 1e-6);
    assert!((binomial_tail(5, 2, 0.01) - 0.000_980_1).abs() < 1e-6);
    assert!((binomial_tail(10, 5, 0.5) - 0.623_046_875).abs() < 1e-9);
}

/// A week of a low-volume endpoint (~5 calls a minute, each failing with probability
/// `failing`), then, with `surge`, 12 minutes with one call in five failing. Default settings:
/// the minimum traffic (10 a minute) is never reached.
fn low_volume(failing: f64, surge: bool) -> Vec<Anomaly> {
    let mut d = Detector::new(DetectorConfig::default());
    let mut rng = Lcg(11);
    let end = MONDAY + 7 * DAY;
    let mut found = Vec::new();
    for m in MONDAY..end + 12 {
        let count = rng.count(5.0).min(9);
        let errors = if surge && m >= end {
            count.div_ceil(5)
        } else {
            (0..count).filter(|_| rng.uniform() < failing).count() as u64
        };
        let sample = MinuteSample {
            minute: m,
            count,
            errors,
            latency_ms: 50.0 + 4.0 * rng.normal(),
        };
        found.extend(if count == 0 {
            d.observe_gap(m)
        } else {
            d.observe(&sample)
        });
    }
    found
}

#[test]
fn a_low_volume_error_surge_is_reported_below_the_minimum_traffic() {
    let found = low_volume(0.01, true);
    assert_eq!(kinds(&found), vec![AnomalyKind::ErrorSurge], "{found:?}");
    // Found within four steps of the surge's start (three failures in fifteen calls are
    // needed to tell it from chance at a 1% error ratio).
    let end = MONDAY + 7 * DAY;
    assert!(found[0].minute < end + 4, "{found:?}");
}

#[test]
fn scattered_failures_on_a_low_volume_endpoint_stay_silent() {
    for failing in [0.0, 0.01, 0.03] {
        let found = low_volume(failing, false);
        assert!(found.is_empty(), "{failing}: {found:?}");
    }
}

/// An endpoint of ~100 calls a step with bursts of 30% more for 15 minutes every 313 minutes
/// (not aligned with the hour, so the profiles do not learn them), then, from the fourth day
/// on, 30% more for good: the findings before that change, and the steps from its start to
/// the first finding after it (none within six hours: `None`).
fn bursts_then_a_change(margin: f64, seed: u64) -> (Vec<Anomaly>, Option<u64>) {
    let mut d = Detector::new(DetectorConfig {
        shift_margin: margin,
        ..DetectorConfig::default()
    });
    let mut rng = Lcg(seed);
    let change = MONDAY + 4 * DAY;
    let mut before = Vec::new();
    for m in MONDAY..change {
        let burst = m - MONDAY >= 60 && (m - MONDAY) % 313 < 15;
        let s = normal(&mut rng, m, if burst { 130.0 } else { 100.0 });
        before.extend(d.observe(&s));
    }
    let after = (change..change + 360)
        .find(|&m| !d.observe(&normal(&mut rng, m, 130.0)).is_empty())
        .map(|m| m - change);
    (before, after)
}

#[test]
fn the_shift_rule_is_judged_by_the_series_own_bursts() {
    // Bursts that drain within the adoption time raise the shift rule's threshold, so they are
    // no findings (and no episode that would swallow the change); a lasting change of the same
    // size still is one. Without the margin, the bursts are reported and the change is lost.
    let (mut bursts, mut missed) = (0, Vec::new());
    let (mut bursts_without, mut missed_without) = (0, 0);
    for seed in 1..=10 {
        let (found, change) = bursts_then_a_change(DetectorConfig::default().shift_margin, seed);
        bursts += found.len();
        if change.is_none() {
            missed.push(seed);
        }
        let (found, change) = bursts_then_a_change(0.0, seed);
        bursts_without += found.len();
        missed_without += usize::from(change.is_none());
    }
    assert!(bursts <= 1, "{bursts} findings on bursts in 10 series");
    assert!(missed.is_empty(), "the change missed with seeds {missed:?}");
    assert!(
        bursts_without >= 10 && missed_without >= 5,
        "without the margin: {bursts_without} findings on bursts, {missed_without} changes missed"
    );
}

/// Two weeks of a 5-minute series around 500 (persistence one step), then `change` from step
/// `at` on: what was reported, with the step of each finding counted from `at`.
fn five_minute_series(change: impl Fn(u64, f64) -> f64) -> Vec<(u64, Anomaly)> {
    let mut d = Detector::with_step(DetectorConfig::default(), 5);
    let mut rng = Lcg(11);
    let at = 14 * DAY / 5;
    let mut found = Vec::new();
    for i in 0..at + 40 {
        let value = 500.0 + 500f64.sqrt() * rng.normal();
        let value = if i >= at {
            change(i - at, value)
        } else {
            value
        };
        let obs = Observation::rate_only(MONDAY + 5 * i, value);
        found.extend(d.observe_values(&obs).into_iter().map(|a| (i, a)));
    }
    assert!(
        found.iter().all(|(i, _)| *i >= at),
        "before the change: {found:?}"
    );
    found.into_iter().map(|(i, a)| (i - at, a)).collect()
}

#[test]
fn each_finding_names_the_rule_that_fired() {
    // One step 40% up (about 9 σ): the point rule sees it at once, while the short window,
    // which averages about 26 steps, stays within its threshold.
    let lone = five_minute_series(|i, v| if i == 0 { v + 200.0 } else { v });
    assert_eq!(lone.len(), 1, "{lone:?}");
    let (step, a) = &lone[0];
    assert_eq!(
        (*step, a.kind, a.rule),
        (0, AnomalyKind::RateSpike, Rule::Point)
    );
    assert!(
        a.margin > 1.0 && a.score.abs() < DetectorConfig::default().sigmas,
        "{a:?}"
    );
    // Twice the calls for good: the short window leaves its usual range at the first step, and
    // the absolute rule comes first; its margin is the score over the threshold.
    let crowd = five_minute_series(|_, v| 2.0 * v);
    let (step, a) = &crowd[0];
    assert_eq!(
        (*step, a.kind, a.rule),
        (0, AnomalyKind::RateSpike, Rule::Absolute)
    );
    assert!(
        (a.margin - a.score / DetectorConfig::default().sigmas).abs() < 1e-9,
        "{a:?}"
    );
    assert!(a.margin > 1.0, "{a:?}");
}
