use super::*;

const S: Micros = 1_000_000;

#[test]
fn rates_parse_with_their_units_and_reject_nonsense() {
    let cases = [
        ("100/s", Some((100, 1))),
        ("20/m", Some((20, 60))),
        ("1000/h", Some((1000, 3600))),
        ("50/10s", Some((50, 10))),
        (" 5 / m ", Some((5, 60))),
        ("0/s", None),
        ("10", None),
        ("10/x", None),
        ("10/0s", None),
        ("-1/s", None),
    ];
    for (text, want) in cases {
        let got = Rate::parse(text, None)
            .ok()
            .map(|r| (r.count, r.per.as_secs()));
        assert_eq!(got, want, "{text}");
    }
    assert!(
        Rate::parse("1/s", Some(0)).is_err(),
        "a zero burst never passes"
    );
    assert_eq!(Rate::parse("10/s", Some(3)).map(|r| r.burst), Ok(3));
}

#[test]
fn exactly_the_burst_passes_at_once_then_one_per_interval() {
    let g = Rate::parse("10/s", Some(5)).unwrap().gcra();
    let mut st = RateState::default();
    let t0 = 1_000 * S;
    for left in (0..5).rev() {
        assert_eq!(g.take(&mut st, t0).map(|p| p.remaining), Ok(left));
    }
    let refused = g.take(&mut st, t0).unwrap_err();
    assert_eq!(refused.retry_after, Duration::from_millis(100));
    assert_eq!(refused.reset, Duration::from_millis(500));
    // A refused call costs nothing: 99 ms later still refused, at 100 ms one passes.
    assert!(g.take(&mut st, t0 + 99_000).is_err());
    assert_eq!(g.take(&mut st, t0 + 100_000).map(|p| p.remaining), Ok(0));
    assert!(g.take(&mut st, t0 + 100_000).is_err());
    // After a full rest the whole burst is back, never more.
    let later = t0 + 10 * S;
    let n = (0..20).filter(|_| g.take(&mut st, later).is_ok()).count();
    assert_eq!(n, 5);
}

#[test]
fn a_steady_caller_at_the_rate_is_never_refused() {
    let g = Rate::parse("100/s", Some(1)).unwrap().gcra();
    let mut st = RateState::default();
    for i in 0..10_000u64 {
        assert!(g.take(&mut st, S + i * 10_000).is_ok(), "call {i}");
    }
    // Twice the rate: every other call passes.
    let start = 1_000 * S;
    let passed = (0..1_000u64)
        .filter(|i| g.take(&mut st, start + i * 5_000).is_ok())
        .count();
    assert_eq!(passed, 500);
}

proptest::proptest! {
    #[test]
    fn never_more_than_burst_plus_rate_times_elapsed(
        count in 1u32..1000, burst in 1u32..100, gaps in proptest::collection::vec(0u64..50_000, 1..300)
    ) {
        let rate = Rate::parse(&format!("{count}/s"), Some(burst)).unwrap();
        let g = rate.gcra();
        let mut st = RateState::default();
        let start = 5_000 * S;
        let mut now = start;
        let mut passed = 0u64;
        for gap in gaps {
            now += gap;
            if g.take(&mut st, now).is_ok() { passed += 1; }
        }
        let elapsed = (now - start) as f64 / S as f64;
        let bound = f64::from(burst) + f64::from(count) * elapsed + 1.0;
        proptest::prop_assert!(passed as f64 <= bound, "{passed} > {bound}");
    }
}
