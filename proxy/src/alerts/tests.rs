use super::intake;
use super::model::Kind;
use crate::analysis::engine::Finding;
use crate::record::events::Event;
use crate::record::{CallRecord, Direction};
use sightline_policy::Decision;

fn egress(service: Option<&str>) -> CallRecord {
    CallRecord {
        direction: Direction::Egress,
        service: service.map(Into::into),
        source_addr: std::net::SocketAddr::from(([10, 0, 0, 9], 4000)),
        host: "169.254.169.254".into(),
        dest_port: Some(80),
        path: "/latest/meta-data/".into(),
        decision: Decision::Blocked,
        reason: "special-purpose address".into(),
        ..CallRecord::sample()
    }
}

#[test]
fn events_map_by_kind_name_with_subject_and_nodes_from_the_record() {
    let s = intake::event(&Event::EgressBlocked, &egress(Some("orders"))).unwrap();
    assert_eq!(s.kind, Kind::EgressBlocked);
    assert_eq!(s.subject, "orders -> 169.254.169.254:80");
    assert_eq!(s.nodes, ["service:orders", "external:169.254.169.254"]);
    assert_eq!(s.evidence["path"], "/latest/meta-data/");
    assert_eq!(s.evidence["reason"], "special-purpose address");
    let u = intake::event(&Event::UnknownEgressSource, &egress(None)).unwrap();
    assert_eq!(u.kind, Kind::UnknownEgressSource);
    assert_eq!(u.subject, "unknown:10.0.0.9");
    assert_eq!(u.nodes[0], "internal-unknown:10.0.0.9");
}

#[test]
fn a_client_event_is_about_the_client_not_the_proxy_in_front_of_it() {
    // A scanner behind a trusted gateway: the peer is the gateway, the client the scanner.
    let mut rec = CallRecord {
        source_addr: std::net::SocketAddr::from(([10, 0, 0, 40], 4000)),
        caller_service: Some("gateway".into()),
        service: Some("catalog".into()),
        ..CallRecord::sample()
    };
    rec.client.client = Some("203.0.113.7".into());
    let scan = Event::ScanningDetected {
        client: "203.0.113.7".into(),
        distinct_paths: 10,
    };
    let s = intake::event(&scan, &rec).unwrap();
    assert_eq!(s.subject, "203.0.113.7");
    assert_eq!(s.nodes, ["service:gateway", "service:catalog"]);
    // A ban of an API-key client is the ban of its address.
    rec.client.client = Some("key:0123456789abcdef".into());
    let ban = Event::ClientBanned {
        client: "203.0.113.7".into(),
        reason: "failed_logins",
        strikes: 1,
        until: String::new(),
        enforced: true,
    };
    assert_eq!(intake::event(&ban, &rec).unwrap().subject, "203.0.113.7");
}

#[test]
fn every_event_kind_has_an_alert_kind() {
    for e in [
        Event::EgressBlocked,
        Event::EgressReported,
        Event::UnknownEgressSource,
    ] {
        assert!(Kind::parse(e.kind()).is_some(), "{}", e.kind());
    }
}

#[test]
fn findings_map_to_alert_kinds_with_their_nodes() {
    let f = |kind: &str, subject: &str, evidence| Finding {
        id: 3,
        kind: kind.into(),
        subject: subject.into(),
        at: 100,
        evidence,
    };
    let cases = [
        (
            "new_node",
            "external:x.example",
            serde_json::json!({"kind": "node", "node_kind": "external"}),
            Kind::NewExternalDestination,
        ),
        (
            "new_node",
            "service:orders",
            serde_json::json!({"kind": "node", "node_kind": "service"}),
            Kind::NewService,
        ),
        (
            "new_edge",
            "service:a -> service:b",
            serde_json::json!({}),
            Kind::NewEdge,
        ),
        (
            "new_endpoint",
            "service:a GET /x",
            serde_json::json!({}),
            Kind::NewEndpoint,
        ),
        (
            "shadow_endpoint",
            "service:a GET /x",
            serde_json::json!({}),
            Kind::ShadowEndpoint,
        ),
        (
            "rate_spike",
            "internet -> service:a GET /x",
            serde_json::json!({}),
            Kind::RateAnomaly,
        ),
        (
            "rate_drop",
            "internet -> service:a GET /x",
            serde_json::json!({}),
            Kind::RateAnomaly,
        ),
        (
            "error_surge",
            "internet -> service:a GET /x",
            serde_json::json!({}),
            Kind::ErrorAnomaly,
        ),
        (
            "latency_degradation",
            "internet -> service:a GET /x",
            serde_json::json!({}),
            Kind::LatencyAnomaly,
        ),
    ];
    for (kind, subject, evidence, want) in cases {
        let s = intake::finding(&f(kind, subject, evidence)).unwrap();
        assert_eq!(s.kind, want, "{kind}");
        assert_eq!(s.at, 100_000);
        assert_eq!(s.evidence["finding"], kind);
    }
    let s = intake::finding(&f(
        "rate_spike",
        "internet -> service:a GET /x",
        serde_json::json!({}),
    ))
    .unwrap();
    assert_eq!(s.nodes, ["internet", "service:a"]);
    assert!(intake::finding(&f("something_else", "x", serde_json::json!({}))).is_none());
}

#[tokio::test]
async fn grown_fault_counters_become_alerts_counting_the_growth() {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = std::sync::Arc::new(crate::record::Counters::default());
    let store = std::sync::Arc::new(crate::store::StoreStats::default());
    let alerts = super::Alerts::start(
        &Default::default(),
        None,
        super::Faults {
            counters: Some(counters.clone()),
            store: Some(store.clone()),
            claims: None,
            mirror: None,
        },
    )
    .unwrap();
    counters.records_dropped.fetch_add(5, Relaxed);
    store.errors.fetch_add(2, Relaxed);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let found = loop {
        let list = alerts.list(&Default::default());
        let list = list["alerts"].as_array().cloned().unwrap_or_default();
        let by = |k: &str| list.iter().find(|a| a["kind"] == k).cloned();
        if let (Some(d), Some(s)) = (by("dropped_records"), by("store_failing")) {
            break (d, s);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fault alerts: {list:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(found.0["subject"], "recorder");
    assert_eq!(found.0["count"], 5);
    assert_eq!(found.0["evidence"]["total"], 5);
    assert_eq!(found.1["subject"], "store");
    assert_eq!(found.1["count"], 2);
    alerts.stop().await;
}

#[test]
fn anomaly_summaries_print_rounded_numbers_with_units() {
    let f = |kind: &str, evidence| Finding {
        id: 9,
        kind: kind.into(),
        subject: "internet -> service:a GET /x".into(),
        at: 100,
        evidence,
    };
    let summary = |kind, evidence| intake::finding(&f(kind, evidence)).unwrap().summary;
    // Calls per 500 ms step: 3.337 calls a step is 6.67 a second.
    let rate = serde_json::json!({"signal": "rate", "observed": 12.0, "expected": 3.337333051555391, "step_seconds": 0.5});
    assert_eq!(
        summary("rate_spike", rate),
        "rate spike: internet -> service:a GET /x (observed 24/s, expected 6.67/s)"
    );
    // Per-minute steps under one call a second read per minute.
    let slow = serde_json::json!({"signal": "rate", "observed": 2.0, "expected": 41.2345, "step_seconds": 60.0});
    assert_eq!(
        summary("rate_drop", slow),
        "rate drop: internet -> service:a GET /x (observed 2/min, expected 41.2/min)"
    );
    let errors =
        serde_json::json!({"signal": "error_ratio", "observed": 0.4166666, "expected": 0.0123456});
    assert_eq!(
        summary("error_surge", errors),
        "error surge: internet -> service:a GET /x (observed 41.7%, expected 1.23%)"
    );
    let latency =
        serde_json::json!({"signal": "latency", "observed": 812.49, "expected": 35.123456});
    assert_eq!(
        summary("latency_degradation", latency),
        "latency degradation: internet -> service:a GET /x (observed 812 ms, expected 35.1 ms)"
    );
}

#[test]
fn a_quiet_alert_resolves_after_the_quiet_period_on_the_engines_clock_and_not_before() {
    use super::model::{Signal, State};
    use sightline_policy::clients::{Clock, ManualClock};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    // Two years behind the wall clock: by the wall clock the alert is long quiet.
    const T0: u64 = 1_700_000_000_000_000;
    let config = crate::config::alerts::AlertsConfig::default();
    let quiet = config.quiet_period;
    let store = super::store::AlertStore::open(None).unwrap();
    let book = Arc::new(Mutex::new(super::restored_book(&config, &store).unwrap()));
    let (_tx, rx) = crate::record::queue::channel(1);
    let clock = Arc::new(ManualClock::at(T0));
    let mut engine = super::engine::Engine {
        book: book.clone(),
        store,
        rx,
        sinks: Vec::new(),
        stream: tokio::sync::broadcast::channel(1).0,
        stats: Default::default(),
        faults: Default::default(),
        stop: Default::default(),
        clock: clock.clone(),
        seen: Default::default(),
    };
    let raised = super::lock(&book).raise(Signal {
        kind: Kind::RateAnomaly,
        subject: "internet -> service:a GET /x".into(),
        summary: "rate spike".into(),
        evidence: serde_json::json!({}),
        nodes: vec!["service:a".into()],
        at: clock.now() / 1000,
        count: 1,
        group: None,
    });
    let super::book::Raised::Opened(id) = raised else {
        panic!("{raised:?}")
    };
    let state = || super::lock(&book).get(id).unwrap().state;
    engine.tick();
    assert_eq!(state(), State::Open, "a fresh alert stays open");
    clock.advance(quiet - Duration::from_millis(1));
    engine.tick();
    assert_eq!(state(), State::Open, "quiet for less than the quiet period");
    clock.advance(Duration::from_millis(1));
    engine.tick();
    assert_eq!(state(), State::Resolved, "quiet for the quiet period");
}
