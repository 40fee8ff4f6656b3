//! The analysis as the API shows it: the graph over a window, endpoints with their baselines,
//! one node with its edges and findings.

use super::{Analysis, Dependency, Finding};
use crate::analysis::baseline::Signal;
use crate::analysis::graph::{EdgeView, NodeKind, Window};
use serde::Serialize;
use std::sync::Arc;

impl Analysis {
    /// The graph over `window` ending at `now` (unix seconds).
    pub fn graph_view(&self, window: Window, now: u64) -> GraphView {
        let edges = self.graph.edges(window, now);
        let mut nodes: Vec<NodeView> = self
            .graph
            .nodes()
            .filter(|n| n.last_seen + window.secs() >= now)
            .map(|n| NodeView {
                id: n.id.to_string(),
                kind: n.kind,
                label: n.label.to_string(),
                first_seen: n.first_seen,
                last_seen: n.last_seen,
                new: n.first_seen + window.secs() >= now,
            })
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let dependencies = self
            .dependencies()
            .into_iter()
            .map(|(d, calls)| DependencyView {
                dependency: d,
                calls,
            })
            .collect();
        GraphView {
            window,
            now,
            nodes,
            edges,
            dependencies,
            overflow: self.graph.overflow,
        }
    }

    /// Every endpoint with traffic in `window`, with its baseline's expected rate (per minute)
    /// and band when it has learned enough.
    pub fn endpoints_view(&self, window: Window, now: u64) -> Vec<EndpointView> {
        let step = self.watches.step_of(now.saturating_mul(1000));
        let mut out = Vec::new();
        for e in self.graph.edges(window, now) {
            for s in e.endpoints {
                let key = (
                    Arc::from(e.from.as_str()),
                    Arc::from(e.to.as_str()),
                    s.method.clone(),
                    Arc::from(s.template.as_str()),
                );
                let baseline = self.watches.detector(&key).and_then(|d| {
                    let b = d.baseline();
                    let rate = b.expectation(Signal::Rate, step)?;
                    let (lo, hi) = b.band(Signal::Rate, &rate);
                    Some(BaselineView {
                        learning: d.learning(),
                        rate_per_min: rate.expected,
                        band: [lo.max(0.0), hi],
                    })
                });
                let shadow =
                    self.shadow
                        .contains(&(e.to.clone(), s.method.clone(), s.template.clone()));
                out.push(EndpointView {
                    shadow,
                    node: e.to.clone(),
                    caller: e.from.clone(),
                    stats: s,
                    baseline,
                });
            }
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.stats.count));
        out
    }

    /// A node, its edges in and out over `window`, and its findings.
    pub fn node_view(&self, id: &str, window: Window, now: u64) -> Option<serde_json::Value> {
        let n = self.graph.node_by_id(id)?;
        let edges: Vec<EdgeView> = self
            .graph
            .edges(window, now)
            .into_iter()
            .filter(|e| e.from == id || e.to == id)
            .collect();
        let findings: Vec<&Finding> = self
            .findings()
            .filter(|f| f.subject.split_whitespace().any(|t| t == id))
            .take(50)
            .collect();
        Some(serde_json::json!({ "node": n, "edges": edges, "findings": findings }))
    }
}

/// A node as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: NodeKind,
    /// Label.
    pub label: String,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// First seen inside the window.
    pub new: bool,
}

/// The graph as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct GraphView {
    /// The window.
    pub window: Window,
    /// Its end, unix seconds.
    pub now: u64,
    /// Nodes active in the window.
    pub nodes: Vec<NodeView>,
    /// Edges with traffic in the window.
    pub edges: Vec<EdgeView>,
    /// Which inbound endpoints call which destinations (from propagated trace context; all time).
    pub dependencies: Vec<DependencyView>,
    /// Observations that did not fit under the caps.
    pub overflow: u64,
}

/// An endpoint (of one edge) as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointView {
    /// The callee's node id.
    pub node: String,
    /// The caller's node id.
    pub caller: String,
    /// Served, but absent from the host's OpenAPI document.
    pub shadow: bool,
    /// Current stats over the window.
    #[serde(flatten)]
    pub stats: crate::analysis::graph::EndpointStats,
    /// What the baseline expects, once it knows enough.
    pub baseline: Option<BaselineView>,
}

/// An endpoint's expected rate.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineView {
    /// Still inside the learning period (no statistical anomalies yet).
    pub learning: bool,
    /// Expected calls per minute now.
    pub rate_per_min: f64,
    /// The normal band of calls per minute.
    pub band: [f64; 2],
}

/// A dependency with its call count.
#[derive(Clone, Debug, Serialize)]
pub struct DependencyView {
    /// The dependency.
    #[serde(flatten)]
    pub dependency: Dependency,
    /// Calls linked so far.
    pub calls: u64,
}
