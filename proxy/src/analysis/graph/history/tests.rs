use crate::analysis::graph::{Graph, NodeKind, Observation, Party};
use std::time::Duration;

fn call(from: &str, to: &str, at: u64, status: u16, blocked: bool) -> Observation {
    Observation {
        from: Party {
            kind: NodeKind::Service,
            label: from.into(),
        },
        to: Party {
            kind: NodeKind::Service,
            label: to.into(),
        },
        method: "GET".into(),
        template: "/x".into(),
        at,
        status,
        latency: crate::analysis::sketch::Latency::of(Duration::from_millis(20)),
        bytes_in: 0,
        bytes_out: 0,
        blocked,
        reported: false,
    }
}

#[test]
fn an_edge_and_a_node_have_an_hour_of_minutes() {
    let mut g = Graph::default();
    let now = 1_000_000 * 60 + 30;
    g.observe(&call("a", "b", now - 120, 200, false));
    g.observe(&call("a", "b", now - 110, 503, false));
    g.observe(&call("a", "b", now, 403, true));
    g.observe(&call("b", "c", now - 61 * 60, 200, false));
    let edge = g
        .history(now, |f, t| f == "service:a" && t == "service:b")
        .unwrap();
    assert_eq!(edge.len(), 60);
    assert_eq!(edge[59].at, (now / 60) * 60);
    assert_eq!((edge[57].count, edge[57].errors), (2, 1));
    assert_eq!((edge[59].count, edge[59].blocked), (1, 1));
    assert!(edge[57].p90_ms > 10.0 && edge[58].p90_ms == 0.0);
    // Node b: both of its edges; the call on b -> c is older than the hour.
    let node = g
        .history(now, |f, t| f == "service:b" || t == "service:b")
        .unwrap();
    assert_eq!(node.iter().map(|m| m.count).sum::<u64>(), 3);
    assert!(g.history(now, |f, _| f == "service:zzz").is_none());
}
