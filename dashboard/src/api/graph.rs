//! The call graph as the dashboard draws it: the analysis' nodes and edges with positions.

use crate::layout::{self, Band, NodeIn};
use serde_json::{json, Value};

/// Adds `x`, `y` and `layer` to every node, `points` and `backwards` to every edge, and a
/// `layout` object (drawing size, box size, crossings left) to a graph from the analysis.
pub(crate) fn with_layout(mut graph: Value) -> Value {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let nodes: Vec<NodeIn> = graph
        .get("nodes")
        .and_then(Value::as_array)
        .map(|ns| {
            ns.iter()
                .map(|n| NodeIn {
                    id: text(n, "id"),
                    band: Band::of_kind(&text(n, "kind")),
                })
                .collect()
        })
        .unwrap_or_default();
    let edges: Vec<(String, String)> = graph
        .get("edges")
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .map(|e| (text(e, "from"), text(e, "to")))
                .collect()
        })
        .unwrap_or_default();
    let placed = layout::layout(&nodes, &edges);
    if let Some(ns) = graph.get_mut("nodes").and_then(Value::as_array_mut) {
        for (n, p) in ns.iter_mut().zip(&placed.nodes) {
            if let Some(o) = n.as_object_mut() {
                o.insert("x".into(), json!(p.x));
                o.insert("y".into(), json!(p.y));
                o.insert("layer".into(), json!(p.layer));
            }
        }
    }
    if let Some(es) = graph.get_mut("edges").and_then(Value::as_array_mut) {
        for (e, p) in es.iter_mut().zip(&placed.edges) {
            if let (Some(o), Some(p)) = (e.as_object_mut(), p) {
                o.insert("points".into(), json!(p.points));
                o.insert("backwards".into(), json!(p.backwards));
            }
        }
    }
    if let Some(o) = graph.as_object_mut() {
        o.insert(
            "layout".into(),
            json!({
                "width": placed.width,
                "height": placed.height,
                "node_width": layout::NODE_WIDTH,
                "node_height": layout::NODE_HEIGHT,
                "crossings": placed.crossings,
            }),
        );
    }
    graph
}
