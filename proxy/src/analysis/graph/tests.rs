use super::*;
use std::time::Duration;

fn party(kind: NodeKind, label: &str) -> Party {
    Party {
        kind,
        label: label.into(),
    }
}

fn call(from: Party, to: Party, template: &str, at: u64, status: u16) -> Observation {
    Observation {
        from,
        to,
        method: "GET".into(),
        template: template.into(),
        at,
        status,
        latency: crate::analysis::sketch::Latency::of(Duration::from_millis(10)),
        bytes_in: 1,
        bytes_out: 2,
        blocked: false,
        reported: false,
    }
}

#[test]
fn first_sightings_are_reported_once() {
    let mut g = Graph::default();
    let internet = party(NodeKind::Internet, "internet");
    let orders = party(NodeKind::Service, "orders");
    let new = g.observe(&call(
        internet.clone(),
        orders.clone(),
        "/orders/{int}",
        1000,
        200,
    ));
    assert_eq!(new.len(), 4, "{new:?}"); // two nodes, an edge, an endpoint
    assert!(new.contains(&NewEntity::Node {
        id: "service:orders".into(),
        node_kind: NodeKind::Service
    }));
    assert!(g
        .observe(&call(
            internet.clone(),
            orders.clone(),
            "/orders/{int}",
            1001,
            200
        ))
        .is_empty());
    let new = g.observe(&call(internet, orders, "/orders", 1002, 200));
    assert_eq!(
        new,
        vec![NewEntity::Endpoint {
            node: "service:orders".into(),
            method: "GET".into(),
            template: "/orders".into()
        }]
    );
}

#[test]
fn refused_calls_count_as_blocked_not_as_the_destinations_errors() {
    let mut g = Graph::default();
    let a = party(NodeKind::Service, "orders");
    let b = party(NodeKind::External, "169.254.169.254");
    let now = 10_000 * 60;
    for i in 0..4 {
        let mut c = call(a.clone(), b.clone(), "/latest/meta-data", now + i, 403);
        c.blocked = true;
        g.observe(&c);
    }
    let e = &g.edges(Window::OneMinute, now + 10)[0];
    assert_eq!((e.total.count, e.total.blocked), (4, 4));
    assert_eq!(
        e.total.ratio_4xx, 0.0,
        "Sightline's 403s are not the destination's 4xx"
    );
    // Of the calls let through, one in two failed: the share is of those, not of all four.
    g.observe(&call(
        a.clone(),
        b.clone(),
        "/latest/meta-data",
        now + 5,
        200,
    ));
    g.observe(&call(
        a.clone(),
        b.clone(),
        "/latest/meta-data",
        now + 6,
        404,
    ));
    let e = &g.edges(Window::OneMinute, now + 10)[0];
    assert!((e.total.ratio_4xx - 0.5).abs() < 1e-9);
}

#[test]
fn windows_sum_the_right_buckets() {
    let mut g = Graph::default();
    let a = party(NodeKind::Service, "a");
    let b = party(NodeKind::External, "api.example.com");
    let now = 10_000 * 60;
    // 10 calls almost an hour ago, 5 four minutes ago, 3 in the current minute (one 500, one 404).
    for i in 0..10 {
        g.observe(&call(a.clone(), b.clone(), "/x", now - 3500 + i, 200));
    }
    for i in 0..5 {
        g.observe(&call(a.clone(), b.clone(), "/x", now - 240 + i, 200));
    }
    for status in [200, 500, 404] {
        g.observe(&call(a.clone(), b.clone(), "/x", now + 5, status));
    }
    let count = |w| g.edges(w, now + 10)[0].total.count;
    assert_eq!(count(Window::OneMinute), 3);
    assert_eq!(count(Window::FiveMinutes), 8);
    assert_eq!(count(Window::OneHour), 18);
    assert_eq!(count(Window::OneDay), 18);
    let e = &g.edges(Window::OneMinute, now + 10)[0];
    assert!((e.total.ratio_5xx - 1.0 / 3.0).abs() < 1e-9);
    assert!((e.total.ratio_4xx - 1.0 / 3.0).abs() < 1e-9);
    assert!((e.total.rate - 3.0 / 60.0).abs() < 1e-9);
    assert!(
        g.edges(Window::OneMinute, now + 7200).is_empty(),
        "quiet edges drop out of short windows"
    );
}

#[test]
fn rates_count_from_the_graphs_first_call_when_it_is_inside_the_window() {
    let mut g = Graph::default();
    let a = party(NodeKind::Internet, "internet");
    let b = party(NodeKind::Service, "shop");
    let c = party(NodeKind::Service, "late");
    let start = 10_000 * 60;
    // Two calls a second for the 20 seconds since the first call the graph saw.
    for i in 0..40 {
        g.observe(&call(a.clone(), b.clone(), "/x", start + i / 2, 200));
    }
    // One call to an edge that appeared ten seconds after the first.
    g.observe(&call(a.clone(), c.clone(), "/y", start + 10, 200));
    let now = start + 19;
    for w in [Window::FiveMinutes, Window::OneHour] {
        let edges = g.edges(w, now);
        let shop = edges.iter().find(|e| e.to == "service:shop").unwrap();
        assert!(
            (shop.total.rate - 2.0).abs() < 1e-9,
            "{w:?}: {}",
            shop.total.rate
        );
        assert!((shop.endpoints[0].rate - 2.0).abs() < 1e-9);
        // Rated over the 20 s the graph has watched, not the 10 s since it appeared.
        let late = edges.iter().find(|e| e.to == "service:late").unwrap();
        assert!(
            (late.total.rate - 1.0 / 20.0).abs() < 1e-9,
            "{}",
            late.total.rate
        );
    }
    // Once the window is full, over the whole window.
    let e = &g.edges(Window::OneMinute, start + 600)[..];
    assert!(e.is_empty(), "quiet for ten minutes");
}

#[test]
fn caps_bound_the_graph() {
    let mut g = Graph::new(GraphLimits {
        max_nodes: 3,
        max_edges: 2,
        max_endpoints_per_edge: 2,
    });
    let a = party(NodeKind::Service, "a");
    for i in 0..100 {
        g.observe(&call(
            a.clone(),
            party(NodeKind::External, &format!("h{i}")),
            &format!("/p{i}"),
            1,
            200,
        ));
    }
    assert_eq!(g.nodes().count(), 3);
    assert_eq!(g.edges(Window::OneDay, 1).len(), 2);
    assert!(g.overflow >= 98);
    let b = party(NodeKind::External, "h0");
    for i in 0..10 {
        g.observe(&call(a.clone(), b.clone(), &format!("/q{i}"), 1, 200));
    }
    assert!(g
        .edges(Window::OneDay, 1)
        .iter()
        .all(|e| e.endpoints.len() <= 2));
}

#[test]
fn nodes_last_sightings_follow_every_call_and_a_restored_node() {
    let mut g = Graph::default();
    let web = party(NodeKind::Client, "web");
    let orders = party(NodeKind::Service, "orders");
    let seen = |g: &Graph, id: &str| g.node_by_id(id).map(|n| (n.first_seen, n.last_seen));
    for at in [100, 100, 105, 103, 105] {
        g.observe(&call(web.clone(), orders.clone(), "/a", at, 200));
    }
    assert_eq!(seen(&g, "client:web"), Some((100, 105)));
    assert_eq!(seen(&g, "service:orders"), Some((100, 105)));
    // Another caller of the same callee, then the first again.
    let app = party(NodeKind::Client, "app");
    g.observe(&call(app.clone(), orders.clone(), "/a", 106, 200));
    g.observe(&call(web.clone(), orders.clone(), "/a", 107, 200));
    assert_eq!(seen(&g, "client:app"), Some((106, 106)));
    assert_eq!(seen(&g, "client:web"), Some((100, 107)));
    assert_eq!(seen(&g, "service:orders"), Some((100, 107)));
    // A node restored from a store replaces the one known; the next call updates it again.
    g.remember_node(Node {
        id: "service:orders".into(),
        kind: NodeKind::Service,
        label: "orders".into(),
        first_seen: 50,
        last_seen: 60,
    });
    g.observe(&call(web.clone(), orders.clone(), "/a", 107, 200));
    assert_eq!(seen(&g, "service:orders"), Some((50, 107)));
}

#[test]
fn an_endpoint_is_new_once_per_callee_whatever_its_callers_and_refusals() {
    let mut g = Graph::default();
    let web = party(NodeKind::Client, "web");
    let app = party(NodeKind::Client, "app");
    let orders = party(NodeKind::Service, "orders");
    let endpoints = |new: &[NewEntity]| {
        new.iter()
            .filter(|n| matches!(n, NewEntity::Endpoint { .. }))
            .count()
    };
    let mut refused = call(web.clone(), orders.clone(), "/a", 100, 403);
    refused.blocked = true;
    assert_eq!(endpoints(&g.observe(&refused)), 0);
    assert_eq!(endpoints(&g.observe(&refused)), 0);
    assert_eq!(
        endpoints(&g.observe(&call(web.clone(), orders.clone(), "/a", 101, 200))),
        1,
        "the first allowed call shows the endpoint"
    );
    assert_eq!(
        endpoints(&g.observe(&call(web.clone(), orders.clone(), "/a", 102, 200))),
        0
    );
    assert_eq!(
        endpoints(&g.observe(&call(app.clone(), orders.clone(), "/a", 103, 200))),
        0,
        "another caller of a known endpoint"
    );
    g.remember_endpoint("service:orders", "GET", "/b");
    assert_eq!(
        endpoints(&g.observe(&call(app.clone(), orders.clone(), "/b", 104, 200))),
        0,
        "an endpoint restored from a store"
    );
    assert_eq!(
        endpoints(&g.observe(&call(app.clone(), orders.clone(), "/c", 105, 200))),
        1
    );
}

#[test]
fn calls_alternating_between_endpoints_each_count_where_they_belong() {
    let mut g = Graph::default();
    let internet = party(NodeKind::Internet, "internet");
    let orders = party(NodeKind::Service, "orders");
    let users = party(NodeKind::Service, "users");
    // The same template text from two allocations is the same endpoint.
    let (a, b): (Arc<str>, Arc<str>) = ("/a".into(), "/a".into());
    let at = 1_000;
    for i in 0..6u64 {
        let mut o = call(internet.clone(), orders.clone(), "/a", at + i / 2, 200);
        o.template = if i % 2 == 0 { a.clone() } else { b.clone() };
        g.observe(&o);
        g.observe(&call(
            internet.clone(),
            orders.clone(),
            "/b",
            at + i / 2,
            200,
        ));
        let mut post = call(internet.clone(), orders.clone(), "/b", at + i / 2, 200);
        post.method = "POST".into();
        g.observe(&post);
        g.observe(&call(
            internet.clone(),
            users.clone(),
            "/b",
            at + i / 2,
            500,
        ));
    }
    let edges = g.edges(Window::OneMinute, at + 3);
    let count = |to: &str, method: &str, template: &str| {
        edges
            .iter()
            .find(|e| e.to == to)
            .and_then(|e| {
                e.endpoints
                    .iter()
                    .find(|s| s.method == method && s.template == template)
            })
            .map(|s| s.count)
    };
    assert_eq!(count("service:orders", "GET", "/a"), Some(6));
    assert_eq!(count("service:orders", "GET", "/b"), Some(6));
    assert_eq!(count("service:orders", "POST", "/b"), Some(6));
    assert_eq!(count("service:users", "GET", "/b"), Some(6));
    let orders_edge = edges.iter().find(|e| e.to == "service:orders");
    assert_eq!(
        orders_edge.map(|e| (e.total.count, e.last_seen)),
        Some((18, at + 2))
    );
}
