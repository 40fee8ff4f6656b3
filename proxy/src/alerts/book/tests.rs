use super::*;
use crate::alerts::model::{Kind, Severity, Signal, State};

const MIN: u64 = 60_000;

fn settings() -> BookSettings {
    BookSettings {
        severities: [(Kind::NewEdge, Severity::Low)].into(),
        quiet_ms: 15 * MIN,
        window_ms: 10 * MIN,
        routes: vec![
            Route {
                sink: "all".into(),
                kinds: vec![],
                min_severity: Severity::Info,
                refresh_ms: None,
            },
            Route {
                sink: "pager".into(),
                kinds: vec![],
                min_severity: Severity::High,
                refresh_ms: None,
            },
        ],
    }
}

fn signal(kind: Kind, subject: &str, nodes: &[&str], at: u64) -> Signal {
    Signal {
        kind,
        subject: subject.into(),
        summary: format!("{} {subject}", kind.as_str()),
        evidence: serde_json::json!({ "at": at }),
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        at,
        count: 1,
        group: None,
    }
}

#[test]
fn ten_thousand_identical_signals_make_one_alert_counting_them() {
    let mut b = Book::new(settings());
    let mut opened = 0;
    for i in 0..10_000u64 {
        let s = signal(
            Kind::EgressBlocked,
            "orders -> 169.254.169.254:80",
            &["service:orders"],
            1_000 + i,
        );
        if let Raised::Opened(_) = b.raise(s) {
            opened += 1;
        }
    }
    assert_eq!(opened, 1);
    let a: Vec<_> = b.alerts().collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].count, 10_000);
    assert_eq!(a[0].first_seen, 1_000);
    assert_eq!(a[0].last_seen, 10_999);
    assert_eq!(a[0].evidence["at"], 10_999, "evidence of the latest repeat");
    assert_eq!(
        a[0].version, 1,
        "repeats do not make sinks hear of it again"
    );
    assert_eq!(a[0].delivery["all"].wanted, 1);
    assert_eq!(a[0].delivery["pager"].wanted, 1, "egress_blocked is high");
}

#[test]
fn severities_come_from_config_and_filter_sinks() {
    let mut b = Book::new(settings());
    let Raised::Opened(id) = b.raise(signal(Kind::NewEdge, "a -> b", &[], 1)) else {
        panic!("not opened");
    };
    let a = b.get(id).unwrap();
    assert_eq!(a.severity, Severity::Low);
    assert!(a.delivery.contains_key("all"));
    assert!(
        !a.delivery.contains_key("pager"),
        "below the pager's minimum"
    );
}

#[test]
fn a_resolved_alert_is_not_reopened_a_new_one_is() {
    let mut b = Book::new(settings());
    let s = || signal(Kind::EgressBlocked, "x -> y", &["service:x"], 5);
    let Raised::Opened(first) = b.raise(s()) else {
        panic!()
    };
    assert_eq!(b.acknowledge(first).unwrap().state, State::Acknowledged);
    assert_eq!(
        b.raise(s()),
        Raised::Repeated(first),
        "acknowledged still counts"
    );
    assert_eq!(b.get(first).unwrap().count, 2);
    let r = b.resolve(first).unwrap();
    assert_eq!(r.state, State::Resolved);
    assert_eq!(r.version, 2, "sinks hear of the resolve");
    let Raised::Opened(second) = b.raise(s()) else {
        panic!("a repeat after resolve opens a new alert")
    };
    assert_ne!(first, second);
}

#[test]
fn quiet_alerts_resolve_themselves_by_the_clock_given() {
    let mut b = Book::new(settings());
    b.raise(signal(Kind::EgressBlocked, "a", &["service:a"], 0));
    b.raise(signal(Kind::EgressBlocked, "b", &["service:b"], 10 * MIN));
    assert!(b.expire(15 * MIN - 1).is_empty());
    let gone = b.expire(15 * MIN);
    assert_eq!(gone.len(), 1);
    assert_eq!(b.get(gone[0]).unwrap().subject, "a");
    assert_eq!(b.live_count(), 1);
    b.raise(signal(Kind::EgressBlocked, "b", &["service:b"], 20 * MIN));
    assert!(
        b.expire(25 * MIN).is_empty(),
        "a repeat restarts the quiet period"
    );
    assert_eq!(b.expire(35 * MIN).len(), 1);
    let incident = b.incidents().find(|i| i.alerts.contains(&gone[0])).unwrap();
    assert_eq!(incident.state, State::Resolved);
}

#[test]
fn alerts_sharing_a_node_within_the_window_form_one_incident_with_that_root() {
    let mut b = Book::new(settings());
    let out = |b: &mut Book, k, subj: &str, nodes: &[&str], at| match b
        .raise(signal(k, subj, nodes, at))
    {
        Raised::Opened(id) => b.get(id).unwrap().incident.unwrap(),
        other => panic!("{other:?}"),
    };
    let i1 = out(
        &mut b,
        Kind::NewEdge,
        "service:orders -> external:evil.example",
        &["service:orders", "external:evil.example"],
        0,
    );
    let i2 = out(
        &mut b,
        Kind::EgressBlocked,
        "orders -> 169.254.169.254:80",
        &["service:orders", "external:169.254.169.254"],
        MIN,
    );
    let i3 = out(
        &mut b,
        Kind::RateAnomaly,
        "service:orders -> external:evil.example GET /x",
        &["service:orders", "external:evil.example"],
        2 * MIN,
    );
    assert_eq!(i1, i2);
    assert_eq!(i1, i3);
    let unrelated = out(
        &mut b,
        Kind::NewService,
        "service:users",
        &["service:users"],
        3 * MIN,
    );
    assert_ne!(unrelated, i1, "no shared node");
    let late = out(
        &mut b,
        Kind::ShadowEndpoint,
        "service:orders GET /debug",
        &["service:orders"],
        2 * MIN + 10 * MIN + 1,
    );
    assert_ne!(late, i1, "outside the window");
    let inc = b.incidents().find(|i| i.id == i1).unwrap();
    assert_eq!(inc.root, "service:orders");
    assert_eq!(inc.alerts.len(), 3);
    assert_eq!(inc.first_seen, 0);
    assert_eq!(inc.last_seen, 2 * MIN);
}

/// A flood of distinct subjects (10,000 destinations from one source, then 10,000 sources
/// each from a network of its own) neither fills the book nor silences later alerts: one
/// source's subjects count into its group alert, a kind's into its overflow alert (which says
/// so), and every other kind keeps its room.
#[test]
fn a_flood_of_distinct_subjects_is_aggregated_and_never_crowds_out_other_alerts() {
    let mut b = Book::new(settings());
    for i in 0..10_000u32 {
        let mut s = signal(
            Kind::EgressBlocked,
            &format!(
                "orders -> 10.{}.{}.{}:443",
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ),
            &["service:orders", "external:x"],
            1,
        );
        s.group = Some("orders -> *".into());
        b.raise(s);
    }
    let blocked: Vec<&Alert> = b
        .alerts()
        .filter(|a| a.kind == Kind::EgressBlocked)
        .collect();
    assert_eq!(blocked.len(), MAX_OPEN_PER_GROUP + 1);
    let group = blocked
        .iter()
        .find(|a| a.subject == "orders -> *")
        .expect("the source's group alert");
    assert_eq!(group.count, 10_000 - MAX_OPEN_PER_GROUP as u64);
    assert_eq!(group.evidence["latest_subject"], "orders -> 10.0.39.15:443");
    assert!(group
        .summary
        .contains("more than 20 subjects from one source"));
    assert_eq!(b.overflow, 10_000 - MAX_OPEN_PER_GROUP as u64);

    // Distinct sources, each in a network of its own: the kind's room fills.
    for i in 0..10_000u32 {
        let mut s = signal(
            Kind::ClientBanned,
            &format!("10.{}.{}.1", i >> 8, i & 255),
            &[],
            2,
        );
        s.group = Some(format!("10.{}.{}.0/24", i >> 8, i & 255));
        b.raise(s);
    }
    let banned: Vec<&Alert> = b
        .alerts()
        .filter(|a| a.kind == Kind::ClientBanned)
        .collect();
    assert_eq!(banned.len(), MAX_OPEN_PER_KIND + 1);
    let over = banned
        .iter()
        .find(|a| a.subject == OVERFLOW_SUBJECT)
        .expect("the kind's overflow alert");
    assert_eq!(over.count, 10_000 - MAX_OPEN_PER_KIND as u64);
    assert!(
        over.summary.contains("alerts of this kind open"),
        "{}",
        over.summary
    );
    assert_eq!(
        over.delivery["all"].wanted, 1,
        "the overflow alert is delivered"
    );

    // Later alerts of other kinds still open.
    assert!(matches!(
        b.raise(signal(Kind::CredentialStuffing, "POST /login", &[], 3)),
        Raised::Opened(_)
    ));
    assert!(matches!(
        b.raise(signal(
            Kind::EgressBlocked,
            "payments -> 10.9.9.9:443",
            &[],
            3
        )),
        Raised::Opened(_)
    ));
    assert!(b.live_count() <= MAX_OPEN);

    // Resolving frees the room: a new subject of the source gets an alert of its own again.
    let first = b
        .alerts()
        .find(|a| a.subject == "orders -> 10.0.0.0:443")
        .map(|a| a.id)
        .unwrap();
    b.resolve(first);
    let mut s = signal(Kind::EgressBlocked, "orders -> 192.0.2.1:443", &[], 4);
    s.group = Some("orders -> *".into());
    assert!(matches!(b.raise(s), Raised::Opened(_)));
}

/// Every kind's room fits in the book together with its overflow alert.
#[test]
fn every_kind_has_room_of_its_own() {
    assert!((MAX_OPEN_PER_KIND + 1) * Kind::ALL.len() <= MAX_OPEN);
    let mut b = Book::new(settings());
    for kind in Kind::ALL {
        for i in 0..(MAX_OPEN_PER_KIND + 5) {
            b.raise(signal(kind, &format!("s{i}"), &[], 1));
        }
    }
    assert_eq!(b.live_count(), (MAX_OPEN_PER_KIND + 1) * Kind::ALL.len());
    assert_eq!(b.overflow, 5 * Kind::ALL.len() as u64);
}

#[test]
fn an_alert_linking_two_incidents_joins_them_into_the_older() {
    let mut b = Book::new(settings());
    let raise = |b: &mut Book, kind, subject: &str, nodes: &[&str], at| {
        let Raised::Opened(id) = b.raise(signal(kind, subject, nodes, at)) else {
            panic!()
        };
        b.get(id).unwrap().incident.unwrap()
    };
    let first = raise(
        &mut b,
        Kind::NewService,
        "service:gateway",
        &["service:gateway"],
        1,
    );
    let second = raise(
        &mut b,
        Kind::NewService,
        "service:catalog",
        &["service:catalog"],
        2,
    );
    assert_ne!(first, second);
    let edge = &["service:gateway", "service:catalog"];
    let joined = raise(
        &mut b,
        Kind::NewEdge,
        "service:gateway -> service:catalog",
        edge,
        3,
    );
    assert_eq!(joined, first);
    let listed: Vec<_> = b.incidents().collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].alerts.len(), 3);
    assert!(b.alerts().all(|a| a.incident == Some(first)));
    let (_, dirty) = b.take_dirty();
    let folded = dirty.iter().find(|i| i.id == second).unwrap();
    assert_eq!(folded.state, State::Resolved);
    assert!(folded.alerts.is_empty());
}

#[test]
fn deliveries_are_owed_until_confirmed_and_never_handed_out_twice() {
    let mut b = Book::new(settings());
    let Raised::Opened(id) = b.raise(signal(Kind::EgressBlocked, "s", &[], 1)) else {
        panic!()
    };
    assert!(b.owed("all", 10).is_empty(), "not stored yet");
    let (dirty, _) = b.take_dirty();
    assert_eq!(dirty.len(), 1);
    assert_eq!(b.owed("all", 10), vec![id]);
    assert!(b.owed("all", 10).is_empty(), "already in the sink's hands");
    assert_eq!(b.failed("all", id, "refused".into()), 1);
    assert_eq!(b.get(id).unwrap().delivery["all"].status(), "failed");
    let v = b.deliverable("all", id).unwrap().version;
    b.delivered("all", id, v);
    assert_eq!(b.get(id).unwrap().delivery["all"].status(), "delivered");
    assert!(b.deliverable("all", id).is_none());
    assert_eq!(b.get(id).unwrap().delivery["pager"].status(), "pending");
}

#[test]
fn a_refreshed_sink_is_owed_its_open_alerts_again_each_period() {
    let mut s = settings();
    s.routes.push(Route {
        sink: "am".into(),
        kinds: vec![],
        min_severity: Severity::Info,
        refresh_ms: Some(MIN),
    });
    let mut b = Book::new(s);
    let Raised::Opened(open) = b.raise(signal(Kind::EgressBlocked, "s", &[], 1)) else {
        panic!()
    };
    let Raised::Opened(done) = b.raise(signal(Kind::EgressBlocked, "t", &[], 1)) else {
        panic!()
    };
    for id in [open, done] {
        for sink in ["all", "am"] {
            b.delivered(sink, id, 1);
        }
    }
    b.resolve(done);
    b.delivered("am", done, 2);
    b.take_dirty();
    assert_eq!(b.refresh(1_000), 0, "the first call starts the period");
    assert_eq!(b.refresh(MIN), 0, "not a whole period yet");
    assert_eq!(b.refresh(1_000 + MIN), 1, "the open alert only");
    assert!(b.get(open).unwrap().delivery["am"].owed());
    assert!(
        !b.get(open).unwrap().delivery["all"].owed(),
        "other sinks keep theirs"
    );
    assert!(!b.get(done).unwrap().delivery["am"].owed());
    assert_eq!(b.owed("am", 10), vec![open]);
    b.delivered("am", open, b.deliverable("am", open).unwrap().version);
    assert_eq!(b.refresh(1_000 + 2 * MIN), 1, "and again a period later");
}

#[test]
fn restored_alerts_are_owed_to_new_sinks_and_keep_counting() {
    let mut b = Book::new(settings());
    let Raised::Opened(id) = b.raise(signal(Kind::EgressBlocked, "s", &["service:s"], 1)) else {
        panic!()
    };
    b.delivered("all", id, 1);
    let alerts: Vec<_> = b.alerts().cloned().collect();
    let incidents: Vec<_> = b.incidents().cloned().collect();
    let mut s = settings();
    s.routes.push(Route {
        sink: "new".into(),
        kinds: vec![],
        min_severity: Severity::Info,
        refresh_ms: None,
    });
    let mut again = Book::new(s);
    again.restore(alerts, incidents, b.next_ids());
    let a = again.get(id).unwrap();
    assert!(!a.delivery["all"].owed());
    assert!(a.delivery["new"].owed());
    assert_eq!(
        again.raise(signal(Kind::EgressBlocked, "s", &[], 2)),
        Raised::Repeated(id)
    );
    let Raised::Opened(next) = again.raise(signal(Kind::EgressBlocked, "t", &[], 3)) else {
        panic!()
    };
    assert!(next > id, "ids continue");
}

#[test]
fn a_cause_still_occurring_after_a_resolve_by_hand_counts_on_it_until_the_snooze_ends() {
    let mut b = Book::new(settings());
    let subject = "orders -> 169.254.169.254:80";
    let s = |at| signal(Kind::EgressBlocked, subject, &["service:orders"], at);
    let Raised::Opened(id) = b.raise(s(1_000)) else {
        panic!("not opened")
    };
    let resolved = b.resolve_by_hand(id, 2_000).unwrap();
    assert_eq!(resolved.state, State::Resolved);
    assert_eq!(resolved.snoozed_until, Some(2_000 + SNOOZE_MS));
    // Within the snooze: counted on the resolved alert, nothing opens.
    assert_eq!(b.raise(s(3_000)), Raised::Repeated(id));
    assert_eq!(b.raise(s(2_000 + SNOOZE_MS - 1)), Raised::Repeated(id));
    let a = b.get(id).unwrap();
    assert_eq!((a.state, a.count), (State::Resolved, 3));
    assert_eq!(b.live_count(), 0);
    // After it: a new alert.
    let Raised::Opened(next) = b.raise(s(2_000 + SNOOZE_MS)) else {
        panic!("a repeat after the snooze must open a new alert")
    };
    assert_ne!(next, id);
    // The old one cannot be reopened over the new one; the new one can be undone.
    assert_eq!(b.reopen(id).unwrap().state, State::Resolved);
    b.resolve_by_hand(next, 2_000 + SNOOZE_MS + 1);
    let back = b.reopen(next).unwrap();
    assert_eq!((back.state, back.snoozed_until), (State::Open, None));
    assert_eq!(b.raise(s(2_000 + SNOOZE_MS + 2)), Raised::Repeated(next));
    assert_eq!(b.live_count(), 1);
    // Undo of an acknowledge.
    b.acknowledge(next);
    assert_eq!(b.reopen(next).unwrap().state, State::Open);
}

#[test]
fn a_quiet_alert_resolved_by_itself_is_not_snoozed() {
    let mut b = Book::new(settings());
    let s = |at| signal(Kind::EgressBlocked, "a -> b:80", &["service:a"], at);
    let Raised::Opened(id) = b.raise(s(0)) else {
        panic!("not opened")
    };
    assert_eq!(b.expire(15 * MIN), vec![id]);
    assert!(matches!(b.raise(s(15 * MIN + 1)), Raised::Opened(n) if n != id));
}

/// A flash crowd shows as a rate anomaly on every edge and endpoint along gateway, catalog and
/// datastore: one alert for the chain, counting and listing each subject; an anomaly of
/// another kind, one on an unrelated service, one linked only through the internet, and one
/// after the window stay alerts of their own.
#[test]
fn anomalies_along_one_call_chain_are_one_alert() {
    let mut b = Book::new(settings());
    let chain = [
        (
            "internet -> service:gateway GET /api/products",
            vec!["internet", "service:gateway"],
        ),
        ("service:gateway GET /api/products", vec!["service:gateway"]),
        (
            "service:gateway -> service:catalog GET /products",
            vec!["service:gateway", "service:catalog"],
        ),
        ("service:catalog GET /products", vec!["service:catalog"]),
        (
            "service:catalog -> service:shop-db GET /shop-db/products",
            vec!["service:catalog", "service:shop-db"],
        ),
        (
            "service:shop-db GET /shop-db/products",
            vec!["service:shop-db"],
        ),
    ];
    // The catalogue's endpoint is seen before the edge that links it to the gateway: two
    // alerts until that edge joins them.
    let mut ids = Vec::new();
    for (i, n) in [0, 3, 2, 1, 4, 5].into_iter().enumerate() {
        let (subject, nodes) = &chain[n];
        match b.raise(signal(Kind::RateAnomaly, subject, nodes, 1_000 + i as u64)) {
            Raised::Opened(id) | Raised::Repeated(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    assert_ne!(ids[1], ids[0]);
    let joined = b.get(ids[1]).unwrap();
    assert_eq!(joined.state, State::Resolved);
    assert_eq!(joined.evidence["joined_into"], ids[0]);
    assert!(ids[2..].iter().all(|id| *id == ids[0]), "{ids:?}");
    // The same subject again counts into the chain's alert too.
    let again = b.raise(signal(Kind::RateAnomaly, chain[3].0, &chain[3].1, 2_000));
    assert_eq!(again, Raised::Repeated(ids[0]));
    assert_eq!(b.live_count(), 1);
    let a = b.get(ids[0]).unwrap().clone();
    assert_eq!(a.count, 7);
    assert_eq!(a.state, State::Open);
    assert_eq!(a.version, 1, "sinks hear of the chain once");
    assert_eq!(a.first_seen, 1_000);
    assert_eq!(
        a.nodes,
        [
            "internet",
            "service:gateway",
            "service:catalog",
            "service:shop-db"
        ]
    );
    let listed = a.evidence["chain"].as_array().unwrap();
    assert_eq!(listed.len(), 6);
    let catalog = listed.iter().find(|c| c["subject"] == chain[3].0).unwrap();
    assert_eq!(catalog["count"], 2);
    let total: u64 = listed.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 7);
    assert_eq!(a.evidence["latest_subject"], chain[3].0);
    assert_eq!(a.evidence["at"], 2_000, "the latest subject's evidence");
    assert!(
        a.summary.starts_with(
            "rate anomaly along service:gateway \u{2192} service:catalog \u{2192} service:shop-db: 6 endpoints and edges"
        ),
        "{}",
        a.summary
    );
    let own = |b: &mut Book, k, subject: &str, nodes: &[&str], at| match b
        .raise(signal(k, subject, nodes, at))
    {
        Raised::Opened(id) => id,
        other => panic!("{subject}: {other:?}"),
    };
    own(
        &mut b,
        Kind::LatencyAnomaly,
        "service:catalog GET /products",
        &["service:catalog"],
        3_000,
    );
    own(
        &mut b,
        Kind::RateAnomaly,
        "service:users GET /users",
        &["service:users"],
        3_000,
    );
    own(
        &mut b,
        Kind::RateAnomaly,
        "internet -> service:orders GET /api/orders",
        &["internet", "service:orders"],
        3_000,
    );
    own(
        &mut b,
        Kind::RateAnomaly,
        "service:shop-db GET /shop-db/orders",
        &["service:shop-db"],
        2_000 + 10 * MIN + 1,
    );
    assert_eq!(b.live_count(), 5);
}

/// First sightings while baselines learn, on any node, count into one digest for the learning
/// period, which counts them per kind and names the nodes; after it resolves the next learning
/// period's sightings open a new one.
#[test]
fn first_sightings_while_learning_are_one_digest() {
    let mut b = Book::new(settings());
    let sighting = |kind: &str, subject: &str, node: &str, at| Signal {
        kind: Kind::Inventory,
        subject: crate::alerts::intake::INVENTORY_SUBJECT.into(),
        summary: String::new(),
        evidence: serde_json::json!({
            "appeared": [{ "kind": kind, "subject": subject, "node": node }],
            "learning": true,
        }),
        nodes: vec![],
        at,
        count: 1,
        group: None,
    };
    let mut ids = Vec::new();
    for (i, (kind, subject, node)) in [
        ("new_service", "service:a", "service:a"),
        ("new_endpoint", "service:a GET /x", "service:a"),
        ("new_service", "service:b", "service:b"),
        ("new_edge", "service:a -> service:b", "service:a"),
        ("new_endpoint", "service:b GET /y", "service:b"),
        (
            "new_external_destination",
            "external:x.example",
            "external:x.example",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        match b.raise(sighting(kind, subject, node, i as u64)) {
            Raised::Opened(id) | Raised::Repeated(id) => ids.push(id),
            other => panic!("{other:?}"),
        }
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let a = b.get(ids[0]).unwrap().clone();
    assert_eq!(a.count, 6);
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(a.evidence["appeared_total"], 6);
    assert_eq!(
        a.evidence["counts"],
        serde_json::json!({ "new_service": 2, "new_endpoint": 2, "new_edge": 1, "new_external_destination": 1 })
    );
    assert_eq!(
        a.evidence["nodes"],
        serde_json::json!(["service:a", "service:b", "external:x.example"])
    );
    assert_eq!(a.evidence["appeared"].as_array().unwrap().len(), 6);
    assert_eq!(
        a.summary,
        "inventory: 6 new while baselines learn: 2 nodes, 1 external destination, 1 edge, 2 endpoints (latest: external destination external:x.example)"
    );
    b.expire(5 + 15 * MIN);
    assert_eq!(b.get(ids[0]).unwrap().state, State::Resolved);
    let next = b.raise(sighting("new_service", "service:c", "service:c", 20 * MIN));
    assert!(
        matches!(next, Raised::Opened(id) if id != ids[0]),
        "{next:?}"
    );
}

/// A silence on a kind and subject: an alert already open is sent nothing more, a new one is
/// recorded but owed to no sink (neither its opening nor its end), other subjects still are;
/// a silence over or ended mutes nothing new.
#[test]
fn silenced_alerts_are_recorded_but_owed_to_no_sink() {
    let mut b = Book::new(settings());
    let subject = "orders -> 169.254.169.254:80";
    let open = |b: &mut Book, subject: &str, at| match b.raise(signal(
        Kind::EgressBlocked,
        subject,
        &["service:orders"],
        at,
    )) {
        Raised::Opened(id) => id,
        other => panic!("{other:?}"),
    };
    let before = open(&mut b, subject, 0);
    assert!(b.get(before).unwrap().delivery["pager"].owed());
    let s = b
        .silence(
            Kind::EgressBlocked,
            Some(subject.into()),
            10 * MIN,
            "drill".into(),
            MIN,
        )
        .unwrap();
    let a = b.get(before).unwrap();
    assert_eq!(a.silenced_by, Some(s.id));
    assert!(a.delivery.values().all(|d| !d.owed()), "{:?}", a.delivery);
    b.resolve(before);
    assert!(b.get(before).unwrap().delivery.values().all(|d| !d.owed()));
    let muted = open(&mut b, subject, 2 * MIN);
    let a = b.get(muted).unwrap();
    assert_eq!(a.silenced_by, Some(s.id));
    assert!(a.delivery.is_empty());
    b.expire(2 * MIN + 15 * MIN);
    assert!(
        b.get(muted).unwrap().delivery.is_empty(),
        "its end is not sent"
    );
    let other = open(&mut b, "orders -> 169.254.169.254:8080", 3 * MIN);
    assert_eq!(b.get(other).unwrap().silenced_by, None);
    assert!(b.get(other).unwrap().delivery["pager"].owed());
    // Over: a new alert of the subject is sent again.
    let after = open(&mut b, subject, 11 * MIN + 15 * MIN);
    assert_eq!(b.get(after).unwrap().silenced_by, None);
    // A silence of the whole kind, then ended.
    let all = b
        .silence(
            Kind::ShadowEndpoint,
            None,
            100 * MIN,
            "noisy".into(),
            30 * MIN,
        )
        .unwrap();
    assert_eq!(b.silences().count(), 1, "the silence over is forgotten");
    assert_eq!(b.take_silences().map(|s| s.len()), Some(1));
    assert_eq!(b.take_silences(), None);
    assert_eq!(b.unsilence(all.id).map(|s| s.id), Some(all.id));
    assert_eq!(b.take_silences(), Some(vec![]));
    assert_eq!(b.unsilence(all.id), None);
}

fn in_incident(kind: Kind, subject: &str, nodes: &[&str], at: u64, incident: u64) -> Signal {
    let mut s = signal(kind, subject, nodes, at);
    s.evidence["incident"] = incident.into();
    s
}

/// Anomalies the analysis placed in one incident are one alert, whatever their kind and
/// whether they share a node; anomalies of another incident on unrelated nodes are another
/// alert, even of the same kind along the same service (the chain rule would have joined them).
#[test]
fn anomalies_of_one_analysis_incident_are_one_alert() {
    let mut b = Book::new(settings());
    let first = match b.raise(in_incident(
        Kind::RateAnomaly,
        "service:catalog GET /products",
        &["service:catalog"],
        1_000,
        7,
    )) {
        Raised::Opened(id) => id,
        other => panic!("{other:?}"),
    };
    // An error surge downstream, in the same incident: counted in, though another kind.
    let errors = b.raise(in_incident(
        Kind::ErrorAnomaly,
        "service:shop-db GET /rows",
        &["service:shop-db"],
        1_500,
        7,
    ));
    assert_eq!(errors, Raised::Repeated(first));
    // Another incident on the same service: an alert of its own.
    let other = b.raise(in_incident(
        Kind::RateAnomaly,
        "service:catalog GET /search",
        &["service:catalog"],
        2_000,
        9,
    ));
    let Raised::Opened(second) = other else {
        panic!("{other:?}")
    };
    assert_ne!(second, first);
    // Its later findings join it, not the first.
    assert_eq!(
        b.raise(in_incident(
            Kind::LatencyAnomaly,
            "service:search GET /q",
            &["service:search"],
            2_500,
            9
        )),
        Raised::Repeated(second)
    );
    assert_eq!(b.live_count(), 2);
    let a = b.get(first).unwrap();
    assert_eq!(a.count, 2);
    assert_eq!(a.kind, Kind::RateAnomaly);
    assert_eq!(a.nodes, ["service:catalog", "service:shop-db"]);
    let kinds: Vec<&str> = a.evidence["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rate_anomaly", "error_anomaly"]);
    assert!(a.summary.starts_with("anomalies along "), "{}", a.summary);
    assert_eq!(a.evidence["incident"], 7);
    // Resolved by hand while the incident goes on: its findings count on the snoozed alert
    // rather than opening a new one at once.
    b.resolve_by_hand(first, 3_000);
    assert_eq!(
        b.raise(in_incident(
            Kind::RateAnomaly,
            "service:gateway GET /products",
            &["service:gateway"],
            3_500,
            7
        )),
        Raised::Repeated(first)
    );
    assert_eq!(b.get(first).unwrap().state, State::Resolved);
    assert_eq!(b.live_count(), 1);
}
