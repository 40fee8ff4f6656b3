//! The analysis task's state: every record becomes a graph observation under its route
//! template; each closed minute feeds the endpoints' baselines; first sightings and
//! statistical anomalies are kept (bounded) and logged as events.

use super::baseline::{DetectorConfig, Signal};
use super::graph::{EdgeView, Graph, GraphLimits, NewEntity, NodeKind, Observation, Party, Window};
use super::template::{TemplateConfig, Templater};
use super::watch::Watches;
use crate::record::{CallRecord, Direction};
use serde::Serialize;
use sightline_policy::{Decision, Network};
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Anomalies and first sightings kept for the API.
pub const MAX_ANOMALIES: usize = 1_000;

/// Shadow endpoints remembered (served, absent from their OpenAPI document).
pub const MAX_SHADOW: usize = 10_000;

mod links;
mod restored;

pub use links::{
    LinkOverflow, LinkSizes, MAX_DEPENDENCIES, MAX_DESTINATIONS_PER_TRACE, MAX_TRACES,
};
pub use restored::Restored;

/// An inbound endpoint whose handling called out to a destination (linked by trace id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Dependency {
    /// The service node id.
    pub service: String,
    /// The inbound endpoint, `METHOD template`.
    pub endpoint: String,
    /// The egress destination node id.
    pub to: String,
}

/// Knobs of the analysis.
#[derive(Clone, Debug, Default)]
pub struct AnalysisConfig {
    /// Graph caps.
    pub graph: GraphLimits,
    /// Templating.
    pub templates: TemplateConfig,
    /// Baselines and detectors.
    pub detector: DetectorConfig,
    /// The length of a baseline step (zero: a minute). Shorter steps compress time for demos
    /// and tests.
    pub step: Duration,
}

/// Something the analysis reports: a first sighting or a departure from the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Increasing id.
    pub id: u64,
    /// `new_node`, `new_edge`, `new_endpoint` or an anomaly kind (`rate_spike`, …).
    pub kind: String,
    /// What it is about: a node id, `from -> to`, or `from -> to METHOD template`.
    pub subject: String,
    /// Unix seconds.
    pub at: u64,
    /// For first sightings: the new entity; for anomalies: observed, expected, band, window.
    pub evidence: serde_json::Value,
}

/// The analysis state.
#[derive(Debug)]
pub struct Analysis {
    graph: Graph,
    templater: Templater,
    watches: Watches,
    /// The last minute whose totals were handed to the store (maybe incomplete then); 0
    /// before the first.
    stored_minute: u64,
    enclave: Vec<Network>,
    findings: VecDeque<Finding>,
    next_id: u64,
    /// Endpoints served but absent from their host's OpenAPI document (at most
    /// [`MAX_SHADOW`]).
    shadow: HashSet<(String, String, String)>,
    /// Shadow endpoints not remembered because of [`MAX_SHADOW`].
    shadow_overflow: u64,
    /// Egress calls waiting for their inbound call, and the dependencies found.
    links: links::TraceLinks,
    /// The route template of the call [`Analysis::observe`] saw last.
    last_template: Option<Arc<str>>,
}

impl Analysis {
    /// Empty state.
    pub fn new(config: AnalysisConfig) -> Self {
        Analysis {
            graph: Graph::new(config.graph),
            templater: Templater::new(config.templates),
            watches: Watches::new(config.detector, config.step),
            stored_minute: 0,
            enclave: Vec::new(),
            findings: VecDeque::new(),
            next_id: 1,
            shadow: HashSet::new(),
            shadow_overflow: 0,
            links: links::TraceLinks::default(),
            last_template: None,
        }
    }

    /// The route template of the call last observed (`None` when it had no place in the
    /// graph); span names and metric labels use it.
    pub fn last_template(&self) -> Option<Arc<str>> {
        self.last_template.clone()
    }

    /// Takes back what a previous run stored: known nodes are not new again, findings and
    /// baselines continue.
    pub fn restore(&mut self, restored: Restored) {
        for n in restored.nodes {
            self.graph.remember_node(n);
        }
        for (from, to, at) in restored.edges {
            self.graph.remember_edge(&from, &to, at, at);
        }
        for (node, method, template) in restored.endpoints {
            self.graph.remember_endpoint(&node, &method, &template);
        }
        for f in restored.findings {
            self.next_id = self.next_id.max(f.id + 1);
            if self.findings.len() == MAX_ANOMALIES {
                self.findings.pop_front();
            }
            self.findings.push_back(f);
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for (key, state) in restored.baselines {
            self.watches.restore(&key, &state, now_ms);
        }
        for (key, totals) in restored.minutes {
            let Some((from, to, method, template)) = super::watch::split_key(&key) else {
                continue;
            };
            if let Ok(bucket) = serde_json::from_str::<super::graph::Bucket>(&totals) {
                self.graph
                    .restore_minute(from, to, method, template, &bucket);
            }
        }
    }

    /// Template counters, for metrics (walks the templates: not for every call).
    pub fn template_stats(&self) -> super::template::TemplateStats {
        self.templater.stats()
    }

    /// One node, for the store.
    pub fn node(&self, id: &str) -> Option<super::graph::Node> {
        self.graph.node_by_id(id).cloned()
    }

    /// Every node, for the store.
    pub fn nodes_snapshot(&self) -> Vec<super::graph::Node> {
        self.graph.nodes().cloned().collect()
    }

    /// Every baseline as `(key, json)`, for the store.
    pub fn baselines_snapshot(&self) -> Vec<(String, String)> {
        self.watches.snapshot()
    }

    /// Each endpoint's totals as `(key, minute, json)`, for the store: the minute under way
    /// (so far) and every minute since the last call (once more, now complete; the last hour
    /// at most). A call that finishes after its minute was last handed out is in the graph but
    /// not in the store.
    pub fn minutes_to_store(&mut self, now: SystemTime) -> Vec<(String, u64, String)> {
        let current = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        let start = self.stored_minute.max(current.saturating_sub(60));
        let mut out = Vec::new();
        for minute in start..=current {
            for (from, to, method, template, b) in self.graph.minute_buckets(minute) {
                let Ok(json) = serde_json::to_string(b) else {
                    continue;
                };
                let key = super::watch::join_key(from, to, method, template);
                out.push((key, minute, json));
            }
        }
        self.stored_minute = self.stored_minute.max(current);
        out
    }

    /// Endpoints not given a baseline because of [`super::watch::MAX_WATCHES`].
    pub fn watch_overflow(&self) -> u64 {
        self.watches.overflow
    }

    /// The length of a baseline step.
    pub fn step(&self) -> Duration {
        self.watches.step()
    }

    /// The enclave networks, to tell internal callers from the internet.
    pub fn set_enclave(&mut self, networks: Vec<Network>) {
        self.enclave = networks;
    }

    /// The templater, to declare routes and import OpenAPI documents.
    pub fn templater(&mut self) -> &mut Templater {
        &mut self.templater
    }

    fn inside(&self, ip: IpAddr) -> bool {
        self.enclave.iter().any(|n| n.contains(ip))
    }

    /// The two parties of a record, or `None` when it has no place in the graph (unrouted).
    fn parties(&self, rec: &CallRecord) -> Option<(Party, Party)> {
        let party = |kind, label: &str| Party {
            kind,
            label: label.to_owned(),
        };
        match rec.direction {
            Direction::Inbound => {
                let to = party(NodeKind::Service, rec.service.as_deref()?);
                let ip = rec.source_addr.ip();
                let from = match (&rec.caller_service, &rec.source_identity) {
                    (Some(s), _) => party(NodeKind::Service, s),
                    (None, Some(id)) => party(NodeKind::Client, id),
                    (None, None) if self.inside(ip) => {
                        party(NodeKind::InternalUnknown, &ip.to_string())
                    }
                    (None, None) => party(NodeKind::Internet, "internet"),
                };
                Some((from, to))
            }
            Direction::Egress => {
                let from = match &rec.service {
                    Some(s) => party(NodeKind::Service, s),
                    None => party(NodeKind::InternalUnknown, &rec.source_addr.ip().to_string()),
                };
                let kind = if rec.inside == Some(true) {
                    NodeKind::InternalUnknown
                } else {
                    NodeKind::External
                };
                Some((from, party(kind, &rec.host)))
            }
        }
    }

    /// Adds one finished call; returns the findings it raised.
    pub fn observe(&mut self, rec: &CallRecord) -> Vec<Finding> {
        self.last_template = None;
        let at_ms = rec
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let at = at_ms / 1000;
        let mut found = self.advance_to_ms(at_ms);
        let Some((from, to)) = self.parties(rec) else {
            return found;
        };
        let (template, shadow): (Arc<str>, bool) =
            if rec.protocol == crate::record::Protocol::Tunnel {
                ("CONNECT".into(), false)
            } else {
                let c =
                    self.templater
                        .classify(&rec.host, &rec.method, rec.matched_path(), rec.status);
                (c.template, c.shadow)
            };
        self.last_template = Some(template.clone());
        let o = Observation {
            from,
            to,
            method: rec.method.to_string(),
            template,
            at,
            status: rec.status.unwrap_or(0),
            duration: rec.duration,
            bytes_in: rec.bytes_in,
            bytes_out: rec.bytes_out,
            blocked: rec.decision == Decision::Blocked,
            reported: rec.decision == Decision::Reported,
        };
        let (ids, news, places) = self.graph.observe_call(&o);
        if let Some((from, to)) = &ids {
            let mut unplaced = Default::default();
            let places = places.unwrap_or(&mut unplaced);
            self.watches.count_call(from, to, &o, places);
        }
        self.link(rec, &o, ids.as_ref().map(|(_, to)| to));
        for new in news {
            if shadow {
                if let NewEntity::Endpoint {
                    node,
                    method,
                    template,
                } = &new
                {
                    if self.shadow.len() < MAX_SHADOW {
                        self.shadow
                            .insert((node.clone(), method.clone(), template.clone()));
                    } else {
                        self.shadow_overflow += 1;
                    }
                    let subject = format!("{node} {method} {template}");
                    let evidence = serde_json::json!({ "node": node, "method": method, "template": template, "path": rec.path });
                    found.push(self.push("shadow_endpoint".into(), subject, at, evidence));
                }
            }
            found.push(self.sighting(new, at));
        }
        found
    }

    /// Links egress calls to the inbound endpoint of the same trace. Egress calls usually
    /// finish first (the inbound response waits for them), so they wait here for it. `to` is
    /// the callee's node id when the graph holds the node.
    fn link(&mut self, rec: &CallRecord, o: &Observation, to: Option<&Arc<str>>) {
        let to = || -> std::borrow::Cow<'_, str> {
            match to {
                Some(id) => std::borrow::Cow::Borrowed(id),
                None => Node::id(&o.to).into(),
            }
        };
        match rec.direction {
            Direction::Egress => self.links.egress(rec.trace_id, &to()),
            Direction::Inbound => {
                // Only a trace with egress calls waiting needs the endpoint's name.
                if self.links.waiting(&rec.trace_id) {
                    let endpoint = format!("{} {}", o.method, o.template);
                    self.links.inbound(rec.trace_id, &to(), &endpoint);
                }
            }
        }
    }

    /// Endpoint-level dependencies with call counts, sorted.
    pub fn dependencies(&self) -> Vec<(Dependency, u64)> {
        self.links.dependencies()
    }

    /// What the trace-linking caps let go.
    pub fn link_overflow(&self) -> LinkOverflow {
        self.links.overflow()
    }

    /// The sizes of the trace-linking tables.
    pub fn link_sizes(&self) -> LinkSizes {
        self.links.sizes()
    }

    /// Shadow endpoints not remembered because of [`MAX_SHADOW`] (and the shadow endpoints
    /// remembered).
    pub fn shadow_counts(&self) -> (u64, usize) {
        (self.shadow_overflow, self.shadow.len())
    }

    /// Closes every step before the one `now` falls in, feeding the baselines; call it on a
    /// timer too, so an endpoint falling silent is noticed without traffic.
    pub fn advance_to(&mut self, now: SystemTime) -> Vec<Finding> {
        let ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.advance_to_ms(ms)
    }

    fn advance_to_ms(&mut self, unix_ms: u64) -> Vec<Finding> {
        let step = self.watches.step_of(unix_ms);
        let fired = self.watches.advance(step);
        let mut found = Vec::with_capacity(fired.len());
        for (subject, a) in fired {
            let evidence = serde_json::json!({
                "signal": a.signal,
                "observed": a.observed,
                "expected": a.expected,
                "band": [a.band.0, a.band.1],
                "score": a.score,
                "window_minutes": a.window_minutes,
                "step_seconds": self.watches.step().as_secs_f64(),
            });
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "anomaly".into());
            let at = self.watches.step_start_secs(a.minute);
            found.push(self.push(kind, subject, at, evidence));
        }
        found
    }

    fn sighting(&mut self, new: NewEntity, at: u64) -> Finding {
        let (kind, subject) = match &new {
            NewEntity::Node { id, .. } => ("new_node", id.clone()),
            NewEntity::Edge { from, to } => ("new_edge", format!("{from} -> {to}")),
            NewEntity::Endpoint {
                node,
                method,
                template,
            } => ("new_endpoint", format!("{node} {method} {template}")),
        };
        // The node whose inventory this extends (an edge belongs to its caller) still learns
        // while it is younger than the baselines' learning period.
        let owner = match &new {
            NewEntity::Node { id, .. } => id,
            NewEntity::Edge { from, .. } => from,
            NewEntity::Endpoint { node, .. } => node,
        };
        let learning = self
            .graph
            .node_by_id(owner)
            .is_none_or(|n| at.saturating_sub(n.first_seen) < self.watches.learning().as_secs());
        let mut evidence = serde_json::to_value(&new).unwrap_or_default();
        if let Some(o) = evidence.as_object_mut() {
            o.insert("owner".into(), owner.as_str().into());
            o.insert("learning".into(), learning.into());
        }
        self.push(kind.to_owned(), subject, at, evidence)
    }

    fn push(
        &mut self,
        kind: String,
        subject: String,
        at: u64,
        evidence: serde_json::Value,
    ) -> Finding {
        let f = Finding {
            id: self.next_id,
            kind,
            subject,
            at,
            evidence,
        };
        self.next_id += 1;
        if self.findings.len() == MAX_ANOMALIES {
            self.findings.pop_front();
        }
        self.findings.push_back(f.clone());
        f
    }

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

    /// The call graph itself.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The findings, newest first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().rev()
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

/// Node ids from parties.
struct Node;

impl Node {
    fn id(p: &Party) -> String {
        super::graph::Node::id_of(p.kind, &p.label)
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
    pub stats: super::graph::EndpointStats,
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

#[cfg(test)]
mod tests;
