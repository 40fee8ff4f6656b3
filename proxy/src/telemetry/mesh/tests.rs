use super::*;
use crate::metrics::Writer;
use crate::record::{CallRecord, Direction, Protocol};
use sightline_policy::Decision;

#[test]
fn series_are_capped_and_the_overflow_is_counted() {
    let mesh = Mesh::new(2);
    for route in ["/a", "/b", "/c", "/d"] {
        mesh.observe(
            &CallRecord {
                service: Some("s".into()),
                ..CallRecord::sample()
            },
            Some(route),
        );
    }
    let (all, overflowed) = mesh.snapshot();
    assert_eq!(all.len(), 3, "two series and the overflow series");
    assert_eq!(overflowed, 2);
    let mut w = Writer::default();
    mesh.render(&mut w);
    let out = w.finish();
    assert!(out.contains("route=\"overflow\""), "{out}");
    assert!(out.contains("sightline_mesh_series_overflow_total 2"));
}

#[test]
fn labels_follow_the_istio_names_and_are_escaped() {
    let mesh = Mesh::new(10);
    let rec = CallRecord {
        service: Some("orders".into()),
        source_identity: Some("spiffe://x/\"web\"".into()),
        ..CallRecord::sample()
    };
    mesh.observe(&rec, Some("/orders/{int}"));
    let mut w = Writer::default();
    mesh.render(&mut w);
    let out = w.finish();
    let line = out
        .lines()
        .find(|l| l.starts_with("sightline_mesh_requests_total{"))
        .unwrap_or_default();
    assert!(line.contains("reporter=\"destination\""), "{line}");
    assert!(
        line.contains("source_workload=\"spiffe://x/\\\"web\\\"\""),
        "{line}"
    );
    assert!(line.contains("destination_service=\"orders\""), "{line}");
    // The short names, for tools that do not speak Istio's.
    assert!(
        line.contains(",source=\"spiffe://x/\\\"web\\\"\","),
        "{line}"
    );
    assert!(line.contains(",destination=\"orders\","), "{line}");
    assert!(line.contains("route=\"/orders/{int}\""), "{line}");
    assert!(line.contains("response_code=\"200\""), "{line}");
    assert!(line.ends_with(" 1"), "{line}");
    assert!(out.contains("sightline_mesh_request_duration_milliseconds_bucket{"));
}

#[test]
fn a_known_series_found_by_its_borrowed_labels_counts_the_call_under_the_same_key() {
    let mesh = Mesh::new(10);
    let rec = CallRecord {
        direction: Direction::Egress,
        service: Some("orders".into()),
        host: "pay.example".into(),
        dest_port: Some(443),
        inside: Some(false),
        ..CallRecord::sample()
    };
    assert!(mesh.count(&rec, Some("/charge")));
    assert!(mesh.count(&rec, Some("/charge")));
    let key = mesh.observe(&rec, Some("/charge"));
    assert_eq!(key.destination_service, "pay.example:443");
    let (all, overflowed) = mesh.snapshot();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].0, key);
    assert_eq!(all[0].1.requests, 3);
    assert_eq!(overflowed, 0);
}

#[test]
fn calls_differing_in_any_one_label_count_in_series_of_their_own() {
    let mesh = Mesh::new(100);
    let base = CallRecord {
        service: Some("orders".into()),
        ..CallRecord::sample()
    };
    let variants = [
        base.clone(),
        CallRecord {
            direction: Direction::Egress,
            ..base.clone()
        },
        CallRecord {
            protocol: Protocol::Tunnel,
            ..base.clone()
        },
        CallRecord {
            method: http::Method::POST,
            ..base.clone()
        },
        CallRecord {
            method: http::Method::from_bytes(b"PURGE").unwrap(),
            ..base.clone()
        },
        CallRecord {
            status: Some(201),
            ..base.clone()
        },
        CallRecord {
            status: None,
            ..base.clone()
        },
        CallRecord {
            decision: Decision::Reported,
            ..base.clone()
        },
        CallRecord {
            inside: Some(true),
            ..base.clone()
        },
        CallRecord {
            inside: Some(false),
            ..base.clone()
        },
    ];
    for rec in &variants {
        for _ in 0..2 {
            assert!(mesh.count(rec, Some("/orders")));
        }
    }
    let (all, overflowed) = mesh.snapshot();
    assert_eq!(all.len(), variants.len(), "{all:?}");
    assert!(all.iter().all(|(_, s)| s.requests == 2), "{all:?}");
    assert_eq!(overflowed, 0);
    let other = all.iter().find(|(k, _)| k.method == "other");
    assert!(other.is_some(), "extension methods share `other`: {all:?}");
    for (rec, key) in variants
        .iter()
        .map(|r| (r, SeriesKey::of(r, Some("/orders"))))
    {
        assert!(all.iter().any(|(k, _)| *k == key), "{rec:?}");
    }
}

#[test]
fn consecutive_calls_count_under_their_own_labels_whatever_the_call_before() {
    let mesh = Mesh::new(100);
    let inbound = CallRecord {
        service: Some("orders".into()),
        ..CallRecord::sample()
    };
    let egress = CallRecord {
        direction: Direction::Egress,
        service: Some("orders".into()),
        host: "pay.example".into(),
        dest_port: Some(443),
        ..CallRecord::sample()
    };
    // Each call differs from the one before in one free-text label (or only in where its
    // text is allocated, which is no difference).
    let calls: [(CallRecord, Option<&str>); 10] = [
        (inbound.clone(), Some("/a")),
        (inbound.clone(), Some("/b")),
        (inbound.clone(), None),
        (
            CallRecord {
                service: Some("orders".into()),
                ..inbound.clone()
            },
            None,
        ),
        (
            CallRecord {
                service: Some("billing".into()),
                ..inbound.clone()
            },
            None,
        ),
        (
            CallRecord {
                caller_service: Some("web".into()),
                ..inbound.clone()
            },
            None,
        ),
        (
            CallRecord {
                source_identity: Some("web".into()),
                ..inbound.clone()
            },
            None,
        ),
        (egress.clone(), None),
        (
            CallRecord {
                host: "pay2.example".into(),
                ..egress.clone()
            },
            None,
        ),
        (
            CallRecord {
                dest_port: Some(8443),
                ..egress.clone()
            },
            None,
        ),
    ];
    for (rec, route) in &calls {
        assert!(mesh.count(rec, *route));
    }
    let (all, overflowed) = mesh.snapshot();
    assert_eq!(overflowed, 0);
    assert_eq!(all.len(), 9, "{all:?}");
    // The third and the fourth call share a series.
    let want = [1, 1, 2, 2, 1, 1, 1, 1, 1, 1];
    for ((rec, route), want) in calls.iter().zip(want) {
        let key = SeriesKey::of(rec, *route);
        let got = all.iter().find(|(k, _)| *k == key).map(|(_, s)| s.requests);
        assert_eq!(got, Some(want), "{key:?}");
    }
}
