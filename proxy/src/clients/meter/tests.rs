use super::*;

const M: Micros = MINUTE;

#[test]
fn a_minute_far_above_the_baseline_is_a_flood_once() {
    let mut m = Meter::default();
    let start = 1_000 * M;
    // Twenty minutes of 30 calls a minute.
    for minute in 0..20 {
        for i in 0..30 {
            assert_eq!(
                m.count(start + minute * M + i * 1_000, 10.0, 100),
                Reading::Normal
            );
        }
    }
    let flood = start + 20 * M;
    let readings: Vec<Reading> = (0..1_000)
        .map(|i| m.count(flood + i * 100, 10.0, 100))
        .filter(|r| *r != Reading::Normal)
        .collect();
    assert_eq!(
        readings,
        vec![Reading::Flood {
            per_minute: 264,
            baseline: 26
        }]
    );
}

#[test]
fn nothing_is_judged_while_warming_up_or_below_the_minimum() {
    let mut m = Meter::default();
    for i in 0..5_000 {
        assert_eq!(m.count(M + i * 1_000, 10.0, 100), Reading::Normal);
    }
    let mut quiet = Meter::default();
    for minute in 0..30 {
        quiet.count(minute * M, 10.0, 100);
    }
    let got = (0..99).filter(|i| quiet.count(30 * M + i * 100, 10.0, 100) != Reading::Normal);
    assert_eq!(
        got.count(),
        0,
        "99 calls stay under the 100-a-minute minimum"
    );
}

#[test]
fn a_rare_endpoint_called_by_many_clients_surges() {
    let mut m = Meter::default();
    // Two calls in the first two hours: rare.
    m.count(0, 10.0, 100);
    m.count(60 * M, 10.0, 100);
    let now = 120 * M;
    let mut surged = None;
    for c in 0..12u64 {
        m.count(now + c, 10.0, 100);
        if let Some(n) = m.surge(now + c, c, 5, 10) {
            surged.get_or_insert((c, n));
        }
    }
    assert_eq!(surged, Some((9, 10)), "the tenth distinct client");
    // A busy endpoint never surges.
    let mut busy = Meter::default();
    for i in 0..1_000 {
        busy.count(i * M / 8, 10.0, 1_000_000);
    }
    let t = 130 * M;
    assert!((0..50u64).all(|c| busy.surge(t, c, 5, 10).is_none()));
}
