use super::api::window;
use super::views::{edge_view, finding_view, node_kind};
use super::*;
use crate::alerts::model::{Alert, Delivery, Incident, Kind, Severity, State};
use std::collections::BTreeMap;

fn alert(severity: Severity, state: State, delivery: &[(&str, Delivery)]) -> Alert {
    Alert {
        id: 48,
        kind: Kind::EgressBlocked,
        severity,
        state,
        subject: "svc -> 169.254.169.254".into(),
        summary: "blocked".into(),
        count: 3,
        first_seen: 1_700_000_000_000,
        last_seen: 1_700_000_060_000,
        evidence: serde_json::json!({ "path": "/latest/meta-data/" }),
        snoozed_until: Some(1_800_000_600_000),
        incident: Some(11),
        silenced_by: None,
        nodes: vec!["service:svc".into()],
        version: 2,
        delivery: delivery
            .iter()
            .map(|(n, d)| ((*n).to_owned(), d.clone()))
            .collect(),
    }
}

#[test]
fn the_typed_alert_is_the_json_the_stream_and_sinks_send() {
    let delivered = Delivery {
        wanted: 2,
        done: 2,
        ..Delivery::default()
    };
    let failed = Delivery {
        wanted: 2,
        done: 1,
        failures: 1,
        error: Some("refused".into()),
    };
    let pending = Delivery {
        wanted: 2,
        done: 1,
        ..Delivery::default()
    };
    for severity in Severity::ALL {
        for state in [State::Open, State::Acknowledged, State::Resolved] {
            let a = alert(
                severity,
                state,
                &[
                    ("a", delivered.clone()),
                    ("b", failed.clone()),
                    ("c", pending.clone()),
                ],
            );
            let typed = serde_json::to_value(alert_view(&a)).unwrap();
            assert_eq!(typed, a.to_json(), "{severity:?} {state:?}");
        }
    }
    let i = Incident {
        id: 11,
        root: "service:svc".into(),
        state: State::Open,
        alerts: vec![47, 48],
        nodes: BTreeMap::new(),
        first_seen: 1_700_000_000_000,
        last_seen: 1_700_000_060_000,
    };
    assert_eq!(
        serde_json::to_value(incident_view(&i)).unwrap(),
        i.to_json()
    );
}

#[test]
fn the_documented_alert_kinds_are_the_kinds() {
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(kinds, sightline_dashboard::views::ALERT_KINDS);
}

#[test]
fn every_documented_window_is_understood() {
    for w in sightline_dashboard::views::WINDOWS {
        assert!(window(w).is_ok(), "{w}");
    }
}

#[test]
fn typed_graph_parts_are_the_json_the_analysis_shows() {
    use crate::analysis::engine::Finding;
    use crate::analysis::graph::{EdgeView, EndpointStats, NodeKind};
    let stats = |method: &str, count| EndpointStats {
        method: method.into(),
        template: "/orders/{id}".into(),
        count,
        rate: 0.5,
        ratio_4xx: 0.25,
        ratio_5xx: 0.125,
        bytes_in: 10,
        bytes_out: 20,
        blocked: 1,
        reported: 2,
        first_seen: 3,
        last_seen: 4,
        ..EndpointStats::default()
    };
    let e = EdgeView {
        from: "internet".into(),
        to: "service:orders".into(),
        first_seen: 3,
        last_seen: 4,
        total: stats("*", 9),
        endpoints: vec![stats("GET", 5), stats("POST", 4)],
    };
    assert_eq!(
        serde_json::to_value(edge_view(&e)).unwrap(),
        serde_json::to_value(&e).unwrap()
    );
    for k in [
        NodeKind::Service,
        NodeKind::Client,
        NodeKind::InternalUnknown,
        NodeKind::External,
        NodeKind::Internet,
    ] {
        assert_eq!(
            serde_json::to_value(node_kind(k)).unwrap(),
            serde_json::to_value(k).unwrap()
        );
    }
    let f = Finding {
        id: 3,
        kind: "rate_spike".into(),
        subject: "internet -> service:orders".into(),
        at: 5,
        evidence: serde_json::json!({ "observed": 9.0, "expected": 1.0 }),
    };
    assert_eq!(
        serde_json::to_value(finding_view(&f)).unwrap(),
        serde_json::to_value(&f).unwrap()
    );
}
