//! The call graph as the dashboard draws it: the analysis' nodes and edges with positions.

use crate::layout::{self, Band, NodeIn};
use crate::views::{Drawing, GraphView, PlacedEdge, PlacedGraph, PlacedNode};

/// Places every node (`x`, `y`, `layer`), routes every edge (`points`, `backwards`) and adds
/// the drawing's size and the crossings left.
pub(crate) fn with_layout(graph: GraphView) -> PlacedGraph {
    let nodes: Vec<NodeIn> = graph
        .nodes
        .iter()
        .map(|n| NodeIn {
            id: n.node.id.clone(),
            band: Band::of_kind(n.node.kind.as_str()),
        })
        .collect();
    let edges: Vec<(String, String)> = graph
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let placed = layout::layout(&nodes, &edges);
    PlacedGraph {
        window: graph.window,
        now: graph.now,
        nodes: graph
            .nodes
            .into_iter()
            .zip(&placed.nodes)
            .map(|(node, p)| PlacedNode {
                node,
                x: p.x,
                y: p.y,
                layer: p.layer as u64,
            })
            .collect(),
        edges: graph
            .edges
            .into_iter()
            .zip(&placed.edges)
            .map(|(edge, p)| PlacedEdge {
                edge,
                points: p.as_ref().map(|p| p.points.clone()),
                backwards: p.as_ref().map(|p| p.backwards),
            })
            .collect(),
        dependencies: graph.dependencies,
        overflow: graph.overflow,
        layout: Drawing {
            width: placed.width,
            height: placed.height,
            node_width: layout::NODE_WIDTH,
            node_height: layout::NODE_HEIGHT,
            crossings: placed.crossings as u64,
        },
    }
}
