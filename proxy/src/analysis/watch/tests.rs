use super::*;
use crate::analysis::graph::{NodeKind, Party};

fn observation(status: u16) -> Observation {
    let party = |kind, label: &str| Party {
        kind,
        label: label.into(),
    };
    Observation {
        from: party(NodeKind::Client, "a"),
        to: party(NodeKind::Service, "shop"),
        method: "GET".into(),
        template: "/items".into(),
        at: 0,
        status,
        latency: crate::analysis::sketch::Latency::of(Duration::from_millis(5)),
        bytes_in: 0,
        bytes_out: 0,
        blocked: false,
        reported: false,
    }
}

fn key(caller: &str) -> WatchKey {
    (
        caller.into(),
        "service:shop".into(),
        "GET".into(),
        "/items".into(),
    )
}

#[test]
fn a_call_counts_for_its_edge_endpoint_and_for_the_endpoint_across_callers() {
    let mut w = Watches::new(DetectorConfig::default(), Duration::from_secs(60));
    w.advance(100);
    w.count(key("client:a"), &observation(200));
    w.count(key("client:b"), &observation(500));
    assert_eq!(w.len(), 3, "two edges and one endpoint across callers");
    w.advance(101);
    let any = w.detector(&key(ANY_CALLER)).unwrap();
    assert_eq!(any.baseline().steps(), 1);
    assert_eq!(
        subject(ANY_CALLER, "service:shop", "GET", "/items"),
        "service:shop GET /items"
    );
}

#[test]
fn watches_are_capped_and_the_overflow_counted() {
    let mut w = Watches::new(DetectorConfig::default(), Duration::ZERO);
    assert_eq!(w.step(), Duration::from_secs(60));
    for i in 0..MAX_WATCHES {
        w.count(key(&format!("client:{i}")), &observation(200));
    }
    assert_eq!(w.len(), MAX_WATCHES);
    assert!(w.overflow > 0);
}

#[test]
fn stale_future_and_unreadable_baselines_are_not_resumed() {
    let step = Duration::from_secs(60);
    let mut fed = Watches::new(DetectorConfig::default(), step);
    fed.advance(1_000);
    fed.count(key("client:a"), &observation(200));
    fed.advance(1_001);
    let stored = fed.snapshot();
    assert_eq!(stored.len(), 2);
    let (k, state) = &stored[0];
    assert!(split_key(k).is_some());
    let minute_ms = 60_000;
    let mut w = Watches::new(DetectorConfig::default(), step);
    assert!(w.restore(k, state, 1_010 * minute_ms));
    assert!(!w.restore(k, state, (1_001 + STALE_STEPS + 1) * minute_ms));
    assert!(!w.restore(k, state, 999 * minute_ms));
    assert!(!w.restore(k, "{", 1_010 * minute_ms));
    assert!(!w.restore("no separators", state, 1_010 * minute_ms));
    assert_eq!(w.len(), 1);
}

#[test]
fn a_call_counted_through_remembered_places_feeds_the_same_watches_as_a_lookup() {
    let mut w = Watches::new(DetectorConfig::default(), Duration::from_secs(60));
    w.advance(100);
    let (from, to): (Arc<str>, Arc<str>) = ("client:a".into(), "service:shop".into());
    let mut places = WatchPlaces::default();
    w.count_call(&from, &to, &observation(200), &mut places);
    w.count_call(&from, &to, &observation(200), &mut places);
    w.count(key("client:a"), &observation(200));
    assert_eq!(
        w.len(),
        2,
        "one edge endpoint and the endpoint across callers"
    );
    let open = |w: &Watches, k: &WatchKey| {
        let slot = *w.watches.get(k).unwrap();
        w.slots[slot as usize].open.count
    };
    assert_eq!(open(&w, &key("client:a")), 3);
    assert_eq!(open(&w, &key(ANY_CALLER)), 3);
}
