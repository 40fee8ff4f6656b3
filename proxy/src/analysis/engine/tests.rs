use super::*;
use crate::record::CallRecord;

fn trace(i: u64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&i.to_be_bytes());
    t[8] = 0xa5;
    t
}

fn inbound(i: u64) -> CallRecord {
    CallRecord {
        trace_id: trace(i),
        service: Some("orders".into()),
        host: "orders.internal".into(),
        path: "/checkout".into(),
        method: http::Method::POST,
        ..CallRecord::sample()
    }
}

fn egress(i: u64, host: String) -> CallRecord {
    CallRecord {
        trace_id: trace(i),
        direction: Direction::Egress,
        service: Some("orders".into()),
        host,
        path: "/v1/charge".into(),
        method: http::Method::POST,
        ..CallRecord::sample()
    }
}

#[test]
fn an_egress_call_waits_for_its_inbound_call_and_becomes_a_dependency() {
    let mut a = Analysis::new(AnalysisConfig::default());
    a.observe(&egress(1, "pay.example".into()));
    a.observe(&egress(1, "pay.example".into()));
    a.observe(&egress(1, "tax.example".into()));
    assert_eq!(a.link_sizes().traces, 1);
    a.observe(&inbound(1));
    let deps: Vec<(String, String, u64)> = a
        .dependencies()
        .into_iter()
        .map(|(d, n)| (d.endpoint, d.to, n))
        .collect();
    assert_eq!(
        deps,
        vec![
            ("POST /checkout".into(), "external:pay.example".into(), 1),
            ("POST /checkout".into(), "external:tax.example".into(), 1),
        ]
    );
    assert_eq!(
        a.link_sizes(),
        LinkSizes {
            traces: 0,
            order: 0,
            destinations: 0,
            dependencies: 2
        },
        "a linked trace leaves nothing behind"
    );
}

/// Millions of calls: linked pairs (the usual case, which used to leave an entry in the
/// eviction order behind each time), egress calls whose inbound call never comes, traces
/// calling many destinations, and more distinct dependencies than the cap. Every table stays
/// under its cap and what the caps let go is counted.
#[test]
fn trace_linking_stays_bounded_over_millions_of_calls() {
    let mut a = Analysis::new(AnalysisConfig::default());
    let pairs: u64 = 1_000_000;
    let mut calls = 0u64;
    for i in 0..pairs {
        // More distinct destinations than dependencies may be kept.
        a.observe(&egress(i, format!("d{}.example", i % 70_000)));
        calls += 1;
        if i % 10 == 0 {
            // Its inbound call never arrives (not recorded, dropped at a full queue…).
            continue;
        }
        if i % 1_000 == 1 {
            // A trace fanning out to more destinations than are remembered per trace.
            for d in 0..(MAX_DESTINATIONS_PER_TRACE as u64 + 10) {
                a.observe(&egress(i, format!("fan{d}.example")));
                calls += 1;
            }
        }
        a.observe(&inbound(i));
        calls += 1;
    }
    assert!(calls > 1_900_000, "{calls}");
    let sizes = a.link_sizes();
    assert!(sizes.traces <= MAX_TRACES, "{sizes:?}");
    assert_eq!(sizes.order, sizes.traces, "{sizes:?}");
    assert!(
        sizes.destinations <= MAX_TRACES * MAX_DESTINATIONS_PER_TRACE,
        "{sizes:?}"
    );
    assert_eq!(sizes.dependencies, MAX_DEPENDENCIES, "{sizes:?}");
    let overflow = a.link_overflow();
    // 100,000 traces never linked, at most 10,000 still waiting.
    assert!(overflow.traces_evicted >= 90_000, "{overflow:?}");
    assert!(overflow.destinations_dropped >= 900 * 10, "{overflow:?}");
    assert!(overflow.dependencies_dropped > 0, "{overflow:?}");

    // Linking still works once every table is full.
    let dep_before = a.dependencies().len();
    a.observe(&egress(pairs + 1, "d1.example".into()));
    a.observe(&inbound(pairs + 1));
    assert_eq!(a.dependencies().len(), dep_before);
    let d1 = a
        .dependencies()
        .into_iter()
        .find(|(d, _)| d.to == "external:d1.example")
        .map(|(_, n)| n);
    assert!(d1.is_some_and(|n| n > 1), "{d1:?}");
}

/// One call of a six-service chain: hop 0 is the entry (called from the internet), hop `h`
/// is called by service `h - 1`.
fn hop(h: usize, minute: u64) -> CallRecord {
    CallRecord {
        service: Some(format!("svc{h}").into()),
        caller_service: (h > 0).then(|| format!("svc{}", h - 1).into()),
        host: format!("svc{h}.internal"),
        path: if h == 0 {
            "/enter".into()
        } else {
            "/hop".into()
        },
        start: UNIX_EPOCH + Duration::from_secs(minute * 60 + 1),
        ..CallRecord::sample()
    }
}

#[test]
fn a_flash_crowd_across_six_hops_is_one_incident_rooted_at_the_entry() {
    // The crowd reaches every hop in the same minute, or one hop a minute later.
    for lag in [0u64, 1] {
        let mut config = AnalysisConfig::default();
        config.detector.learning_minutes = 140;
        config.detector.min_rate = 3.0;
        let mut a = Analysis::new(config);
        let start = 1_000_000u64;
        let mut found = Vec::new();
        for m in start..start + 220 {
            for h in 0..6usize {
                let crowd = m >= start + 180 + lag * h as u64;
                for _ in 0..if crowd { 50 } else { 10 } {
                    found.extend(a.observe(&hop(h, m)));
                }
            }
        }
        found.extend(a.advance_to(UNIX_EPOCH + Duration::from_secs((start + 221) * 60)));
        let spikes: Vec<&Finding> = found.iter().filter(|f| f.kind == "rate_spike").collect();
        let subjects: Vec<&str> = spikes.iter().map(|f| f.subject.as_str()).collect();
        // One finding per endpoint (not one per edge and one across callers).
        assert_eq!(spikes.len(), 6, "lag {lag}: {subjects:?}");
        let roots: Vec<&&Finding> = spikes
            .iter()
            .filter(|f| f.evidence["root"] == true)
            .collect();
        assert_eq!(roots.len(), 1, "lag {lag}: {subjects:?}");
        assert_eq!(roots[0].subject, "service:svc0 GET /enter", "lag {lag}");
        let incident = roots[0].id;
        assert!(
            spikes.iter().all(|f| f.evidence["incident"] == incident),
            "lag {lag}: {:?}",
            spikes.iter().map(|f| &f.evidence).collect::<Vec<_>>()
        );
    }
}

#[test]
fn unrelated_anomalies_at_the_same_time_are_separate_incidents() {
    let mut config = AnalysisConfig::default();
    config.detector.learning_minutes = 140;
    config.detector.min_rate = 3.0;
    let mut a = Analysis::new(config);
    let start = 1_000_000u64;
    let mut found = Vec::new();
    // Two entry services that never talk to each other.
    let entry = |name: &str, m: u64| CallRecord {
        service: Some(name.into()),
        host: format!("{name}.internal"),
        path: "/enter".into(),
        start: UNIX_EPOCH + Duration::from_secs(m * 60 + 1),
        ..CallRecord::sample()
    };
    for m in start..start + 200 {
        for name in ["left", "right"] {
            for _ in 0..if m >= start + 180 { 50 } else { 10 } {
                found.extend(a.observe(&entry(name, m)));
            }
        }
    }
    found.extend(a.advance_to(UNIX_EPOCH + Duration::from_secs((start + 201) * 60)));
    let spikes: Vec<&Finding> = found.iter().filter(|f| f.kind == "rate_spike").collect();
    assert_eq!(spikes.len(), 2);
    assert!(spikes.iter().all(|f| f.evidence["root"] == true));
    assert_ne!(
        spikes[0].evidence["incident"],
        spikes[1].evidence["incident"]
    );
}
