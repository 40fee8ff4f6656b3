use super::*;

const S: Micros = 1_000_000;

#[test]
fn failures_ban_only_when_enough_fall_within_the_window() {
    let within = Duration::from_secs(60);
    let mut w = FailureWindow::default();
    // Spread out: never three within a minute.
    for i in 0..10 {
        assert!(!w.fail(i * 31 * S, within, 3), "failure {i}");
    }
    let mut w = FailureWindow::default();
    assert!(!w.fail(100 * S, within, 3));
    assert!(!w.fail(130 * S, within, 3));
    assert!(w.fail(159 * S, within, 3), "third within 60 s");
    assert!(w.is_empty(), "the window starts over after a ban");
    assert!(!w.fail(160 * S, within, 3));
}

#[test]
fn ban_lengths_escalate_up_to_the_maximum_and_strikes_are_forgotten() {
    let e = Escalation {
        base: Duration::from_secs(60),
        factor: 4,
        max: Duration::from_secs(3600),
        forget: Duration::from_secs(86_400),
    };
    let lengths: Vec<u64> = (1..=5).map(|s| e.length(s).as_secs()).collect();
    assert_eq!(lengths, [60, 240, 960, 3600, 3600]);
    let first = e.next(None, 1_000 * S, "failed_logins");
    assert_eq!((first.strikes, first.until), (1, 1_060 * S));
    assert!(first.active(1_059 * S) && !first.active(1_060 * S));
    let second = e.next(Some(&first), 2_000 * S, "failed_logins");
    assert_eq!((second.strikes, second.until - second.since), (2, 240 * S));
    let much_later = second.until + 86_400 * S + 1;
    assert_eq!(e.next(Some(&second), much_later, "x").strikes, 1);
    assert_eq!(
        Escalation {
            factor: u32::MAX,
            ..e
        }
        .length(u32::MAX),
        e.max,
        "no overflow"
    );
}

#[test]
fn distinct_values_count_once_and_age_out() {
    let within = Duration::from_secs(10);
    let mut d = DistinctWindow::default();
    assert_eq!(d.note(1, S, within, 100), 1);
    assert_eq!(d.note(1, 2 * S, within, 100), 1, "the same path again");
    assert_eq!(d.note(2, 3 * S, within, 100), 2);
    assert_eq!(
        d.note(3, 13 * S, within, 100),
        2,
        "value 1 (last at 2 s) aged out"
    );
    for v in 10..1_000 {
        d.note(v, 14 * S, within, 50);
    }
    assert_eq!(d.note(5_000, 14 * S, within, 50), 50, "capped");
}
