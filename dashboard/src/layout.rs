//! A compact layered (Sugiyama-style) layout of the call graph, computed on the server.
//!
//! Columns run left to right like the traffic: the internet and clients first, then entry
//! services, internal services, and external destinations in the last column. The steps are
//! the classic ones:
//! 1. cycle removal: edges closing a cycle are reversed for layering (depth-first, in id order);
//! 2. layer assignment: longest path from the sources, callers pinned to the first column and
//!    external destinations to the last, parties nobody calls right before what they call;
//! 3. long edges broken into chains of dummy points, one per layer crossed;
//! 4. crossing reduction: barycentre sweeps down and up, keeping the best order seen;
//! 5. coordinates: each column stacked with fixed gaps, then pulled towards the mean height of
//!    its neighbours without ever letting two boxes overlap.
//!
//! Everything is ordered by node id before work starts, so the same graph always gets the same
//! picture, whatever order the nodes and edges arrive in.

mod coords;
mod order;

use serde::Serialize;
use std::collections::HashMap;

/// Width of a node box.
pub const NODE_WIDTH: f64 = 180.0;
/// Height of a node box.
pub const NODE_HEIGHT: f64 = 40.0;
/// Space between two columns (room for edge labels).
pub const COLUMN_GAP: f64 = 150.0;
/// Vertical space between two boxes of one column.
pub const ROW_GAP: f64 = 16.0;
/// Vertical room taken by an edge passing through a column.
pub const DUMMY_HEIGHT: f64 = 10.0;
/// Margin around the drawing.
pub const MARGIN: f64 = 24.0;

/// Where a node is drawn relative to the flow of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    /// Callers from outside: always the first column.
    Source,
    /// Services and unknown internal parties: placed by their callers.
    Middle,
    /// Destinations outside the enclave: always the last column.
    Sink,
}

impl Band {
    /// The band of a node kind as the graph API names it.
    pub fn of_kind(kind: &str) -> Band {
        match kind {
            "internet" | "client" => Band::Source,
            "external" => Band::Sink,
            _ => Band::Middle,
        }
    }
}

/// One node to place.
#[derive(Clone, Debug)]
pub struct NodeIn {
    /// Stable id.
    pub id: String,
    /// Its band.
    pub band: Band,
}

/// A placed node: the top-left corner of its box.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeOut {
    /// Column, from 0.
    pub layer: usize,
    /// Position in its column, from the top.
    pub order: usize,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
}

/// A routed edge: the points of its polyline, from the caller's right side to the callee's
/// left side (or between the same sides, right to left, when it runs backwards).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EdgeOut {
    /// Points `[x, y]`.
    pub points: Vec<[f64; 2]>,
    /// The edge closes a cycle or stays within a column, so it runs against the flow.
    pub backwards: bool,
}

/// The whole picture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Layout {
    /// Drawing width.
    pub width: f64,
    /// Drawing height.
    pub height: f64,
    /// Nodes, in the order given.
    pub nodes: Vec<NodeOut>,
    /// Edges, in the order given; `None` for an edge naming an unknown node.
    pub edges: Vec<Option<EdgeOut>>,
    /// Edge crossings left between adjacent columns.
    pub crossings: usize,
}

/// A vertex of the layered graph: a node, or a point where a long edge crosses a column.
#[derive(Clone, Debug)]
pub(crate) struct Vertex {
    pub(crate) layer: usize,
    pub(crate) height: f64,
    /// Set once coordinates are assigned.
    pub(crate) y: f64,
}

/// The layered graph the ordering and coordinate steps work on.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layered {
    pub(crate) vertices: Vec<Vertex>,
    /// Vertex ids per layer, top to bottom.
    pub(crate) layers: Vec<Vec<usize>>,
    /// Segments between adjacent layers: (upper-layer vertex, next-layer vertex).
    pub(crate) segments: Vec<(usize, usize)>,
}

/// Lays out `nodes` and `edges` (pairs of node ids, caller first).
pub fn layout(nodes: &[NodeIn], edges: &[(String, String)]) -> Layout {
    // Work in id order so the picture does not depend on input order.
    let mut sorted: Vec<usize> = (0..nodes.len()).collect();
    sorted.sort_by(|&a, &b| nodes[a].id.cmp(&nodes[b].id));
    sorted.dedup_by(|a, b| nodes[*a].id == nodes[*b].id);
    let index: HashMap<&str, usize> = sorted
        .iter()
        .enumerate()
        .map(|(i, &n)| (nodes[n].id.as_str(), i))
        .collect();
    let bands: Vec<Band> = sorted.iter().map(|&n| nodes[n].band).collect();
    let n = bands.len();

    let resolved: Vec<Option<(usize, usize)>> = edges
        .iter()
        .map(|(f, t)| Some((*index.get(f.as_str())?, *index.get(t.as_str())?)))
        .collect();
    let mut unique: Vec<(usize, usize)> = resolved.iter().flatten().copied().collect();
    unique.sort_unstable();
    unique.dedup();

    let forward = acyclic(n, &unique, &bands);
    let layer = assign_layers(n, &forward, &bands);

    let mut g = Layered::default();
    let layer_count = layer.iter().max().map_or(0, |m| m + 1);
    g.layers = vec![Vec::new(); layer_count];
    for (v, &l) in layer.iter().enumerate() {
        g.vertices.push(Vertex {
            layer: l,
            height: NODE_HEIGHT,
            y: 0.0,
        });
        g.layers[l].push(v);
    }
    // Each distinct pair gets one chain of dummies; both directions of a pair share nothing.
    let mut chains: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for &(a, b) in &unique {
        let (lo, hi) = if layer[a] <= layer[b] { (a, b) } else { (b, a) };
        if layer[lo] == layer[hi] {
            chains.insert((a, b), vec![a, b]);
            continue;
        }
        let mut chain = vec![lo];
        for l in layer[lo] + 1..layer[hi] {
            let d = g.vertices.len();
            g.vertices.push(Vertex {
                layer: l,
                height: DUMMY_HEIGHT,
                y: 0.0,
            });
            g.layers[l].push(d);
            chain.push(d);
        }
        chain.push(hi);
        for w in chain.windows(2) {
            g.segments.push((w[0], w[1]));
        }
        chains.insert((a, b), chain);
    }

    let crossings = order::reduce_crossings(&mut g);
    let height = coords::assign(&mut g);

    let x_of = |l: usize| MARGIN + l as f64 * (NODE_WIDTH + COLUMN_GAP);
    let mut position = vec![0usize; g.vertices.len()];
    for col in &g.layers {
        for (i, &v) in col.iter().enumerate() {
            position[v] = i;
        }
    }
    let mut out_nodes = vec![
        NodeOut {
            layer: 0,
            order: 0,
            x: 0.0,
            y: 0.0
        };
        nodes.len()
    ];
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&v) = index.get(node.id.as_str()) {
            out_nodes[i] = NodeOut {
                layer: layer[v],
                order: position[v],
                x: x_of(layer[v]),
                y: g.vertices[v].y,
            };
        }
    }
    let centre = |v: usize| g.vertices[v].y + g.vertices[v].height / 2.0;
    let out_edges = resolved
        .iter()
        .map(|e| {
            let (a, b) = (*e)?;
            let chain = chains.get(&(a, b))?;
            let backwards = layer[a] >= layer[b];
            let mut points = Vec::with_capacity(chain.len() + 1);
            if layer[a] == layer[b] {
                // Same column: loop out to the right and back.
                let x = x_of(layer[a]) + NODE_WIDTH;
                points.push([x, centre(a)]);
                points.push([x + COLUMN_GAP / 3.0, (centre(a) + centre(b)) / 2.0]);
                points.push([x, centre(b)]);
            } else {
                for (k, &v) in chain.iter().enumerate() {
                    let l = g.vertices[v].layer;
                    let x = if k == 0 {
                        x_of(l) + NODE_WIDTH
                    } else if k == chain.len() - 1 {
                        x_of(l)
                    } else {
                        x_of(l) + NODE_WIDTH / 2.0
                    };
                    points.push([x, centre(v)]);
                }
                if backwards {
                    points.reverse();
                }
            }
            Some(EdgeOut { points, backwards })
        })
        .collect();
    Layout {
        width: 2.0 * MARGIN
            + layer_count as f64 * NODE_WIDTH
            + layer_count.saturating_sub(1) as f64 * COLUMN_GAP,
        height: height + 2.0 * MARGIN,
        nodes: out_nodes,
        edges: out_edges,
        crossings,
    }
}

/// The edges with every cycle broken: a depth-first search in id order reverses each edge
/// that points back to a vertex still on the stack. Edges into a source or out of a sink are
/// reversed too, so the bands can hold.
fn acyclic(n: usize, edges: &[(usize, usize)], bands: &[Band]) -> Vec<(usize, usize)> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut kept = Vec::with_capacity(edges.len());
    for &(a, b) in edges {
        if a == b {
            continue;
        }
        let against_bands = bands[b] == Band::Source && bands[a] != Band::Source
            || bands[a] == Band::Sink && bands[b] != Band::Sink;
        if against_bands {
            kept.push((b, a));
        } else {
            out[a].push(b);
        }
    }
    // 0 = unseen, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; n];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&w) = out[v].get(*next) {
                *next += 1;
                match state[w] {
                    0 => {
                        kept.push((v, w));
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => kept.push((w, v)),
                    _ => kept.push((v, w)),
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    kept
}

/// Longest-path layers over an acyclic edge list; sources in layer 0, sinks in the last one.
fn assign_layers(n: usize, edges: &[(usize, usize)], bands: &[Band]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        out[a].push(b);
        indegree[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    let mut head = 0;
    while head < queue.len() {
        let v = queue[head];
        head += 1;
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                queue.push(w);
            }
        }
    }
    // Callers from outside start the picture, with the services they call right after them.
    let has_sources = bands.contains(&Band::Source);
    for v in 0..n {
        if bands[v] == Band::Source {
            layer[v] = 0;
        } else if has_sources && bands[v] == Band::Middle {
            layer[v] = layer[v].max(1);
        }
    }
    let sink_layer = (0..n)
        .filter(|&v| bands[v] != Band::Sink)
        .map(|v| layer[v] + 1)
        .max()
        .unwrap_or(0);
    for v in 0..n {
        if bands[v] == Band::Sink {
            layer[v] = sink_layer;
        }
    }
    // Close gaps left by pinning: a node sits right after the latest of its callers.
    let mut changed = true;
    let mut rounds = 0;
    while changed && rounds < n + 1 {
        changed = false;
        rounds += 1;
        for &(a, b) in edges {
            if bands[b] == Band::Middle && layer[b] <= layer[a] {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
    }
    if changed {
        return layer;
    }
    // A party nobody calls (an unknown internal caller, a batch job) sits right before the
    // first node it calls, not in the entry column.
    let mut called = vec![false; n];
    for &(_, b) in edges {
        called[b] = true;
    }
    for v in 0..n {
        if bands[v] != Band::Middle || called[v] {
            continue;
        }
        let first = edges.iter().filter(|e| e.0 == v).map(|e| layer[e.1]).min();
        if let Some(first) = first {
            layer[v] = layer[v].max(first.saturating_sub(1));
        }
    }
    let last_middle = (0..n)
        .filter(|&v| bands[v] != Band::Sink)
        .map(|v| layer[v])
        .max();
    if let Some(m) = last_middle {
        for v in 0..n {
            if bands[v] == Band::Sink {
                layer[v] = m + 1;
            }
        }
    }
    layer
}

#[cfg(test)]
mod tests;
