use super::*;
use std::collections::HashMap;

fn node(id: &str, band: Band) -> NodeIn {
    NodeIn {
        id: id.into(),
        band,
    }
}

fn edge(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

/// A small deterministic generator, so the big graphs are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// `services` services in tiers, the internet calling the first tier, some externals; edges
/// go from a lower tier to a higher one (an acyclic system) plus `cycles` calls back.
fn system(
    services: usize,
    externals: usize,
    edges: usize,
    cycles: usize,
) -> (Vec<NodeIn>, Vec<(String, String)>) {
    let mut rng = Lcg(7);
    let mut nodes = vec![node("internet", Band::Source)];
    for i in 0..services {
        nodes.push(node(&format!("service:s{i:03}"), Band::Middle));
    }
    for i in 0..externals {
        nodes.push(node(&format!("external:e{i:02}.example"), Band::Sink));
    }
    let mut out = Vec::new();
    for i in 0..services / 10 {
        out.push(edge("internet", &format!("service:s{i:03}")));
    }
    while out.len() < edges - cycles {
        if rng.below(5) == 0 {
            let s = rng.below(services);
            let e = rng.below(externals);
            out.push(edge(
                &format!("service:s{s:03}"),
                &format!("external:e{e:02}.example"),
            ));
        } else {
            let a = rng.below(services - 1);
            let b = a + 1 + rng.below((services - a - 1).min(15));
            out.push(edge(
                &format!("service:s{a:03}"),
                &format!("service:s{b:03}"),
            ));
        }
    }
    for _ in 0..cycles {
        let a = 1 + rng.below(services - 1);
        let b = rng.below(a);
        out.push(edge(
            &format!("service:s{a:03}"),
            &format!("service:s{b:03}"),
        ));
    }
    (nodes, out)
}

fn by_id<'a>(nodes: &'a [NodeIn], l: &'a Layout) -> HashMap<&'a str, &'a NodeOut> {
    nodes.iter().map(|n| n.id.as_str()).zip(&l.nodes).collect()
}

#[test]
fn layers_follow_the_direction_of_calls() {
    let (nodes, edges) = system(60, 8, 200, 0);
    let l = layout(&nodes, &edges);
    let at = by_id(&nodes, &l);
    for (a, b) in &edges {
        assert!(at[a.as_str()].layer < at[b.as_str()].layer, "{a} -> {b}");
    }
    assert!(l.edges.iter().all(|e| !e.as_ref().unwrap().backwards));
}

#[test]
fn callers_come_first_and_external_destinations_last() {
    let nodes = vec![
        node("service:gateway", Band::Middle),
        node("external:api.partner.example", Band::Sink),
        node("internet", Band::Source),
        node("service:orders", Band::Middle),
        node("client:mobile", Band::Source),
        node("service:db", Band::Middle),
        node("external:169.254.169.254", Band::Sink),
        node("internal-unknown:10.0.0.5", Band::Middle),
    ];
    let edges = vec![
        edge("internal-unknown:10.0.0.5", "external:169.254.169.254"),
        edge("internet", "service:gateway"),
        edge("client:mobile", "service:gateway"),
        edge("service:gateway", "service:orders"),
        edge("service:orders", "service:db"),
        edge("service:gateway", "external:api.partner.example"),
        edge("service:orders", "external:169.254.169.254"),
    ];
    let l = layout(&nodes, &edges);
    let at = by_id(&nodes, &l);
    assert_eq!(at["internet"].layer, 0);
    assert_eq!(at["client:mobile"].layer, 0);
    assert_eq!(at["service:gateway"].layer, 1);
    assert_eq!(at["service:orders"].layer, 2);
    assert_eq!(at["service:db"].layer, 3);
    assert_eq!(at["external:api.partner.example"].layer, 4);
    assert_eq!(at["external:169.254.169.254"].layer, 4);
    // Nobody calls the unknown caller: it sits next to what it calls.
    assert_eq!(at["internal-unknown:10.0.0.5"].layer, 3);
    // The gateway's call to the partner crosses two columns: a polyline with a bend in each.
    let partner = l.edges[5].as_ref().unwrap();
    assert_eq!(partner.points.len(), 4);
    assert_eq!(partner.points[0][0], at["service:gateway"].x + NODE_WIDTH);
    assert_eq!(partner.points[3][0], at["external:api.partner.example"].x);
}

#[test]
fn boxes_never_overlap() {
    let (nodes, edges) = system(100, 10, 300, 10);
    let l = layout(&nodes, &edges);
    let mut columns: HashMap<usize, Vec<(f64, f64)>> = HashMap::new();
    for n in &l.nodes {
        assert_eq!(n.x, MARGIN + n.layer as f64 * (NODE_WIDTH + COLUMN_GAP));
        columns
            .entry(n.layer)
            .or_default()
            .push((n.y, n.order as f64));
        assert!(n.y >= MARGIN && n.y + NODE_HEIGHT <= l.height - MARGIN + 1e-9);
        assert!(n.x + NODE_WIDTH <= l.width - MARGIN + 1e-9);
    }
    for col in columns.values_mut() {
        col.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in col.windows(2) {
            assert!(w[1].0 >= w[0].0 + NODE_HEIGHT + ROW_GAP - 1e-9, "{w:?}");
            assert!(w[1].1 > w[0].1, "y order follows the column order");
        }
    }
}

#[test]
fn a_twisted_pair_is_untangled() {
    // In id order the two calls cross; the layout must not.
    let nodes = vec![
        node("internet", Band::Source),
        node("service:a", Band::Middle),
        node("service:b", Band::Middle),
        node("service:x", Band::Middle),
        node("service:y", Band::Middle),
    ];
    let edges = vec![
        edge("internet", "service:a"),
        edge("internet", "service:b"),
        edge("service:a", "service:y"),
        edge("service:b", "service:x"),
    ];
    let l = layout(&nodes, &edges);
    assert_eq!(l.crossings, 0);
    let at = by_id(&nodes, &l);
    assert_eq!(
        at["service:a"].order < at["service:b"].order,
        at["service:y"].order < at["service:x"].order
    );
}

#[test]
fn complete_bipartite_keeps_its_unavoidable_crossings() {
    // K(3,3) drawn in two layers crosses C(3,2) * C(3,2) = 9 times whatever the order.
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 0..3 {
        nodes.push(node(&format!("client:c{i}"), Band::Source));
        nodes.push(node(&format!("service:s{i}"), Band::Middle));
    }
    for i in 0..3 {
        for j in 0..3 {
            edges.push(edge(&format!("client:c{i}"), &format!("service:s{j}")));
        }
    }
    assert_eq!(layout(&nodes, &edges).crossings, 9);
}

#[test]
fn a_shuffled_tree_is_drawn_without_crossings() {
    // A three-level tree whose ids interleave the branches.
    let mut nodes = vec![node("internet", Band::Source)];
    let mut edges = Vec::new();
    for i in 0..4 {
        let mid = format!("service:m{}", (i * 3) % 4);
        nodes.push(node(&mid, Band::Middle));
        edges.push(edge("internet", &mid));
        for j in 0..3 {
            let leaf = format!("service:l{}{}", j, (i * 3) % 4);
            nodes.push(node(&leaf, Band::Middle));
            edges.push(edge(&mid, &leaf));
        }
    }
    assert_eq!(layout(&nodes, &edges).crossings, 0);
}

#[test]
fn the_same_graph_gets_the_same_picture_in_any_input_order() {
    let (nodes, edges) = system(100, 10, 300, 10);
    let a = layout(&nodes, &edges);
    let mut rev_nodes = nodes.clone();
    rev_nodes.reverse();
    let mut rev_edges = edges.clone();
    rev_edges.reverse();
    let b = layout(&rev_nodes, &rev_edges);
    assert_eq!(a.width, b.width);
    assert_eq!(a.height, b.height);
    assert_eq!(a.crossings, b.crossings);
    let (pa, pb) = (by_id(&nodes, &a), by_id(&rev_nodes, &b));
    for (id, n) in &pa {
        assert_eq!(*n, pb[id], "{id}");
    }
    assert_eq!(layout(&nodes, &edges), a);
}

#[test]
fn cycles_self_calls_and_unknown_ends_are_survived() {
    let nodes = vec![
        node("internet", Band::Source),
        node("service:a", Band::Middle),
        node("service:b", Band::Middle),
        node("service:c", Band::Middle),
    ];
    let edges = vec![
        edge("internet", "service:a"),
        edge("service:a", "service:b"),
        edge("service:b", "service:c"),
        edge("service:c", "service:a"),
        edge("service:b", "service:b"),
        edge("service:b", "service:gone"),
        edge("service:a", "internet"),
    ];
    let l = layout(&nodes, &edges);
    let backwards: Vec<bool> = l
        .edges
        .iter()
        .map(|e| e.as_ref().is_some_and(|e| e.backwards))
        .collect();
    assert_eq!(backwards, [false, false, false, true, true, false, true]);
    assert!(l.edges[5].is_none());
    // A backwards edge still starts at its caller: the first point is on c's side.
    let at = by_id(&nodes, &l);
    let back = l.edges[3].as_ref().unwrap();
    assert_eq!(back.points[0][1], at["service:c"].y + NODE_HEIGHT / 2.0);
    assert_eq!(
        back.points.last().unwrap()[1],
        at["service:a"].y + NODE_HEIGHT / 2.0
    );
}

#[test]
fn an_empty_graph_is_an_empty_picture() {
    let l = layout(&[], &[]);
    assert!(l.nodes.is_empty() && l.edges.is_empty());
    assert_eq!(l.crossings, 0);
}
