//! The call graph: nodes (services, clients, internal-unknown callers, external destinations,
//! the anonymous internet), edges between them, and per-endpoint stats over 1m, 5m, 1h and 24h.
//! Every map is capped: what does not fit is counted, never stored.

mod history;
mod samples;
mod window;

pub use history::MinuteView;
pub use samples::{hides_paths, merge_samples, sample_of, PathSample, MAX_SAMPLES, MAX_SAMPLE_LEN};
pub use window::{Bucket, EndpointStats, Window};

use super::keyed::{KeyedMap, KeyedSet, Pair};
use super::watch::WatchPlaces;
use hashbrown::hash_map::EntryRef;
use serde::Serialize;
use std::sync::Arc;
use window::Series;

/// The caller's and callee's node ids.
pub type EdgeIds = (Arc<str>, Arc<str>);

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    /// A configured service (inbound target or identified egress caller).
    Service,
    /// A known client (identified by certificate).
    Client,
    /// Inside the enclave but not declared: an unknown caller or internal destination.
    InternalUnknown,
    /// A destination outside the enclave.
    External,
    /// Anonymous clients outside the enclave, aggregated.
    Internet,
}

impl NodeKind {
    /// The dashboard's name for this kind.
    pub fn view(self) -> sightline_dashboard::views::NodeKind {
        use sightline_dashboard::views::NodeKind as V;
        match self {
            NodeKind::Service => V::Service,
            NodeKind::Client => V::Client,
            NodeKind::InternalUnknown => V::InternalUnknown,
            NodeKind::External => V::External,
            NodeKind::Internet => V::Internet,
        }
    }
}

/// A node of the graph.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// Stable id: `kind:label` (`service:orders`, `external:api.stripe.com`, `internet`).
    pub id: Arc<str>,
    /// Kind.
    pub kind: NodeKind,
    /// What people read.
    pub label: Arc<str>,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
}

impl Node {
    /// A node id for `kind` and `label`.
    pub fn id_of(kind: NodeKind, label: &str) -> String {
        let mut id = String::new();
        Node::write_id(&mut id, kind, label);
        id
    }

    /// Writes the node id for `kind` and `label` into `out` (cleared first).
    pub fn write_id(out: &mut String, kind: NodeKind, label: &str) {
        out.clear();
        let prefix = match kind {
            NodeKind::Internet => {
                out.push_str("internet");
                return;
            }
            NodeKind::Service => "service:",
            NodeKind::Client => "client:",
            NodeKind::InternalUnknown => "internal-unknown:",
            NodeKind::External => "external:",
        };
        out.reserve(prefix.len() + label.len());
        out.push_str(prefix);
        out.push_str(label);
    }
}

/// One side of an observed call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// Kind.
    pub kind: NodeKind,
    /// Label (service name, identity, address or host).
    pub label: String,
}

/// A call as the graph sees it.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Caller.
    pub from: Party,
    /// Callee.
    pub to: Party,
    /// Method.
    pub method: String,
    /// Route template (or `CONNECT` for tunnels).
    pub template: Arc<str>,
    /// Unix seconds when the call started.
    pub at: u64,
    /// Status sent (0 for none).
    pub status: u16,
    /// Duration, as the latency sketches' bucket.
    pub latency: crate::analysis::sketch::Latency,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Refused by policy.
    pub blocked: bool,
    /// Let through with an objection.
    pub reported: bool,
}

/// Something seen for the first time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NewEntity {
    /// A node (its kind says: new service, new internal-unknown caller, new external destination…).
    Node {
        /// Node id.
        id: String,
        /// Node kind.
        node_kind: NodeKind,
    },
    /// An edge.
    Edge {
        /// Caller id.
        from: String,
        /// Callee id.
        to: String,
    },
    /// An endpoint of a service.
    Endpoint {
        /// Callee id.
        node: String,
        /// Method.
        method: String,
        /// Template.
        template: String,
    },
}

/// An edge with its endpoints.
#[derive(Debug)]
pub struct Edge {
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// Each endpoint's place in the graph's histories.
    endpoints: KeyedMap<(String, Arc<str>), u32>,
}

/// Caps on what the graph stores.
#[derive(Clone, Copy, Debug)]
pub struct GraphLimits {
    /// Nodes.
    pub max_nodes: usize,
    /// Edges.
    pub max_edges: usize,
    /// Endpoints per edge.
    pub max_endpoints_per_edge: usize,
}

impl Default for GraphLimits {
    fn default() -> Self {
        GraphLimits {
            max_nodes: 10_000,
            max_edges: 50_000,
            max_endpoints_per_edge: 1_000,
        }
    }
}

/// The graph.
#[derive(Debug, Default)]
pub struct Graph {
    limits: GraphLimits,
    nodes: KeyedMap<Arc<str>, Node>,
    edges: KeyedMap<(Arc<str>, Arc<str>), Edge>,
    /// Endpoints ever seen per callee node (for "new endpoint" across callers).
    known_endpoints: KeyedMap<Arc<str>, KeyedSet<(String, Arc<str>)>>,
    /// Observations that did not fit under a cap.
    pub overflow: u64,
    /// Where a party's node id is written to find its node, reused from call to call.
    id_buf: String,
    /// The caller's and the callee's node as the last call found them: the next call from or
    /// to the same party in the same second takes its id from here, without a lookup.
    recent: [Option<RecentNode>; 2],
    /// Every endpoint's history, in the order the endpoints were first seen (never removed:
    /// capped by the edges and the endpoints per edge).
    series: Vec<Series>,
    /// The endpoint the last call found: the next call of the same endpoint in the same second
    /// counts there without a lookup.
    recent_endpoint: Option<RecentEndpoint>,
}

/// An endpoint a call found, and the second up to which its edge's last sighting is already
/// noted. It holds the ids and the template it was found by, so a pointer seen equal is the
/// same text.
#[derive(Debug)]
struct RecentEndpoint {
    from: Arc<str>,
    to: Arc<str>,
    method: String,
    template: Arc<str>,
    seen: u64,
    slot: u32,
}

impl RecentEndpoint {
    fn matches(&self, from: &Arc<str>, to: &Arc<str>, o: &Observation) -> bool {
        o.at <= self.seen
            && Arc::ptr_eq(&self.from, from)
            && Arc::ptr_eq(&self.to, to)
            && Arc::ptr_eq(&self.template, &o.template)
            && self.method == o.method
    }
}

/// A node a call found, and the second up to which its last sighting is already noted.
#[derive(Debug)]
struct RecentNode {
    kind: NodeKind,
    label: String,
    id: Arc<str>,
    seen: u64,
}

/// Which side of a call a node is on (the index of its entry in [`Graph::recent`]).
#[derive(Clone, Copy)]
enum Side {
    From = 0,
    To = 1,
}

impl Graph {
    /// An empty graph with these caps.
    pub fn new(limits: GraphLimits) -> Self {
        Graph {
            limits,
            ..Graph::default()
        }
    }

    fn node(
        &mut self,
        side: Side,
        p: &Party,
        at: u64,
        new: &mut Vec<NewEntity>,
    ) -> Option<Arc<str>> {
        // Nodes are never removed and their last sighting only grows: a node found earlier
        // whose last sighting is already this call's second needs nothing more.
        let recent = &mut self.recent[side as usize];
        if let Some(r) = recent {
            if r.kind == p.kind && at <= r.seen && r.label == p.label {
                return Some(r.id.clone());
            }
        }
        Node::write_id(&mut self.id_buf, p.kind, &p.label);
        if let Some(n) = self.nodes.get_mut(self.id_buf.as_str()) {
            n.last_seen = n.last_seen.max(at);
            let r = recent.get_or_insert_with(|| RecentNode {
                kind: p.kind,
                label: String::new(),
                id: n.id.clone(),
                seen: 0,
            });
            r.kind = p.kind;
            r.label.clear();
            r.label.push_str(&p.label);
            r.id = n.id.clone();
            r.seen = n.last_seen;
            return Some(n.id.clone());
        }
        if self.nodes.len() >= self.limits.max_nodes {
            return None;
        }
        let id: Arc<str> = self.id_buf.as_str().into();
        self.nodes.insert(
            id.clone(),
            Node {
                id: id.clone(),
                kind: p.kind,
                label: p.label.as_str().into(),
                first_seen: at,
                last_seen: at,
            },
        );
        new.push(NewEntity::Node {
            id: id.to_string(),
            node_kind: p.kind,
        });
        Some(id)
    }

    /// Adds a call; returns what it showed for the first time.
    pub fn observe(&mut self, o: &Observation) -> Vec<NewEntity> {
        self.observe_ids(o).1
    }

    /// [`Graph::observe`], also returning the caller's and callee's ids when both fit.
    pub fn observe_ids(&mut self, o: &Observation) -> (Option<EdgeIds>, Vec<NewEntity>) {
        let (ids, new, _) = self.observe_call(o);
        (ids, new)
    }

    /// [`Graph::observe_ids`], also returning where the endpoint keeps its watches' places
    /// when the graph holds the endpoint.
    pub fn observe_call(
        &mut self,
        o: &Observation,
    ) -> (Option<EdgeIds>, Vec<NewEntity>, Option<&mut WatchPlaces>) {
        let mut new = Vec::new();
        let (Some(from), Some(to)) = (
            self.node(Side::From, &o.from, o.at, &mut new),
            self.node(Side::To, &o.to, o.at, &mut new),
        ) else {
            self.overflow += 1;
            return (None, new, None);
        };
        let slot = match &self.recent_endpoint {
            Some(r) if r.matches(&from, &to, o) => r.slot,
            _ => match self.find_endpoint(&from, &to, o, &mut new) {
                Some(slot) => slot,
                None => {
                    self.overflow += 1;
                    return (Some((from, to)), new, None);
                }
            },
        };
        let Some(series) = self.series.get_mut(slot as usize) else {
            return (Some((from, to)), new, None);
        };
        series.add(o);
        // A refused call shows no endpoint: the first allowed call does. Once the callee's
        // endpoints hold it, the series says so and later calls look nothing up.
        let max_endpoints = self.limits.max_endpoints_per_edge;
        let ep_key = Pair(&o.method, &o.template);
        if !o.blocked && !series.known {
            let known = match self.known_endpoints.entry_ref(&*to) {
                EntryRef::Occupied(e) => e.into_mut(),
                EntryRef::Vacant(e) => e.insert_with_key(to.clone(), KeyedSet::default()),
            };
            if known.contains(&ep_key) {
                series.known = true;
            } else if known.len() < max_endpoints {
                known.insert((o.method.clone(), o.template.clone()));
                series.known = true;
                new.push(NewEntity::Endpoint {
                    node: to.to_string(),
                    method: o.method.clone(),
                    template: o.template.to_string(),
                });
            }
        }
        (Some((from, to)), new, Some(&mut series.watches))
    }

    /// The slot of the endpoint of `o` between `from` and `to`, added (with its edge) when
    /// new; `None` past a cap. Notes the edge's last sighting and keeps the endpoint as the
    /// one found last.
    fn find_endpoint(
        &mut self,
        from: &Arc<str>,
        to: &Arc<str>,
        o: &Observation,
        new: &mut Vec<NewEntity>,
    ) -> Option<u32> {
        // A known edge and endpoint cost one lookup each and no copy of their keys.
        let edges_full = self.edges.len() >= self.limits.max_edges;
        let edge = match self.edges.entry_ref(&Pair(from, to)) {
            EntryRef::Occupied(e) => e.into_mut(),
            EntryRef::Vacant(_) if edges_full => return None,
            EntryRef::Vacant(e) => {
                new.push(NewEntity::Edge {
                    from: from.to_string(),
                    to: to.to_string(),
                });
                e.insert_with_key(
                    (from.clone(), to.clone()),
                    Edge {
                        first_seen: o.at,
                        last_seen: o.at,
                        endpoints: KeyedMap::default(),
                    },
                )
            }
        };
        edge.last_seen = edge.last_seen.max(o.at);
        let seen = edge.last_seen;
        let endpoints_full = edge.endpoints.len() >= self.limits.max_endpoints_per_edge;
        let slot = match edge.endpoints.entry_ref(&Pair(&o.method, &o.template)) {
            EntryRef::Occupied(e) => *e.get(),
            EntryRef::Vacant(_) if endpoints_full => return None,
            EntryRef::Vacant(e) => {
                let slot = self.series.len() as u32;
                self.series.push(Series::new(o.at));
                *e.insert_with_key((o.method.clone(), o.template.clone()), slot)
            }
        };
        let r = self.recent_endpoint.get_or_insert_with(|| RecentEndpoint {
            from: from.clone(),
            to: to.clone(),
            method: String::new(),
            template: o.template.clone(),
            seen,
            slot,
        });
        r.from.clone_from(from);
        r.to.clone_from(to);
        r.method.clear();
        r.method.push_str(&o.method);
        r.template.clone_from(&o.template);
        r.seen = seen;
        r.slot = slot;
        Some(slot)
    }

    /// The endpoints of `edge` with their histories.
    fn endpoints<'a>(
        &'a self,
        edge: &'a Edge,
    ) -> impl Iterator<Item = (&'a (String, Arc<str>), &'a Series)> + Clone + 'a {
        edge.endpoints
            .iter()
            .filter_map(|(key, &slot)| Some((key, self.series.get(slot as usize)?)))
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// A node by id.
    pub fn node_by_id(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Every edge with its endpoints' stats over `window` ending at `now` (unix seconds); edges
    /// with no traffic in the window are left out.
    pub fn edges(&self, window: Window, now: u64) -> Vec<EdgeView> {
        // Rates count from the first call the graph holds when that is inside the window (a
        // proxy that started a minute ago has a minute of traffic, not five).
        let since = self
            .edges
            .values()
            .flat_map(|e| self.endpoints(e))
            .map(|(_, s)| s.first_seen())
            .min()
            .unwrap_or(now);
        let mut out: Vec<EdgeView> = self
            .edges
            .iter()
            .filter_map(|((from, to), e)| {
                let mut endpoints: Vec<EndpointStats> = self
                    .endpoints(e)
                    .map(|((m, t), s)| s.stats(m, t, window, (since, now)))
                    .filter(|s| s.count > 0)
                    .collect();
                if endpoints.is_empty() {
                    return None;
                }
                endpoints.sort_by_key(|e| std::cmp::Reverse(e.count));
                Some(EdgeView {
                    from: from.to_string(),
                    to: to.to_string(),
                    first_seen: e.first_seen,
                    last_seen: e.last_seen,
                    total: window::total(window, self.endpoints(e).map(|(_, s)| s), (since, now)),
                    endpoints,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        out
    }

    /// Notes a raw path seen under an endpoint whose template hides paths (see
    /// [`hides_paths`]); `path` is cut by [`sample_of`]. An endpoint the graph does not hold
    /// keeps nothing.
    pub fn sample(
        &mut self,
        (from, to): (&str, &str),
        method: &str,
        template: &str,
        path: &str,
        at: u64,
    ) {
        let slot = self
            .edges
            .get(&Pair(from, to))
            .and_then(|e| e.endpoints.get(&Pair(method, template)));
        if let Some(series) = slot.and_then(|&slot| self.series.get_mut(slot as usize)) {
            series.samples.note(sample_of(path), at);
        }
    }

    /// Every endpoint's totals of `minute` (unix minutes), for the store.
    pub fn minute_buckets(&self, minute: u64) -> Vec<StoredMinute<'_>> {
        let mut out = Vec::new();
        let (start, end) = (minute.saturating_mul(60), minute.saturating_mul(60) + 59);
        for ((from, to), edge) in &self.edges {
            for ((method, template), series) in self.endpoints(edge) {
                if let Some(bucket) = series.minute(minute) {
                    out.push(StoredMinute {
                        from: from.as_ref(),
                        to: to.as_ref(),
                        method: method.as_str(),
                        template: template.as_ref(),
                        totals: MinuteTotals {
                            bucket: std::borrow::Cow::Borrowed(bucket),
                            samples: series.samples.between(start, end),
                        },
                    });
                }
            }
        }
        out
    }

    /// Takes back a stored minute of an endpoint of a known edge (restored first), oldest
    /// minutes first, so the windows show a previous run's traffic after a restart.
    pub fn restore_minute(
        &mut self,
        from: &str,
        to: &str,
        method: &str,
        template: &str,
        totals: &MinuteTotals<'_>,
    ) {
        let max_endpoints = self.limits.max_endpoints_per_edge;
        let Some(edge) = self.edges.get_mut(&Pair(from, to)) else {
            return;
        };
        if !edge.endpoints.contains_key(&Pair(method, template))
            && edge.endpoints.len() >= max_endpoints
        {
            self.overflow += 1;
            return;
        }
        let b = &totals.bucket;
        let at = b.at.saturating_mul(60);
        edge.last_seen = edge.last_seen.max(at);
        let series = &mut self.series;
        let slot = *edge
            .endpoints
            .entry((method.to_owned(), Arc::from(template)))
            .or_insert_with(|| {
                series.push(Series::new(at));
                series.len() as u32 - 1
            });
        let Some(series) = series.get_mut(slot as usize) else {
            return;
        };
        series.absorb(b);
        // Stored most recent first: noted oldest first, so the order survives.
        for s in totals.samples.iter().rev() {
            series.samples.note(sample_of(&s.path), s.last_seen);
        }
    }

    /// Restores a node known from a previous run (so it is not "new" again).
    pub fn remember_node(&mut self, node: Node) {
        if self.nodes.len() < self.limits.max_nodes {
            // A restored node may replace one a call found: its last sighting is read again.
            self.recent = Default::default();
            self.nodes.insert(node.id.clone(), node);
        }
    }

    /// Restores an edge known from a previous run (no traffic yet in this run).
    pub fn remember_edge(&mut self, from: &str, to: &str, first_seen: u64, last_seen: u64) {
        if self.edges.len() < self.limits.max_edges {
            self.edges.entry((from.into(), to.into())).or_insert(Edge {
                first_seen,
                last_seen,
                endpoints: KeyedMap::default(),
            });
        }
    }

    /// Restores an endpoint known from a previous run.
    pub fn remember_endpoint(&mut self, node: &str, method: &str, template: &str) {
        let known = self.known_endpoints.entry(node.into()).or_default();
        if known.len() < self.limits.max_endpoints_per_edge {
            known.insert((method.to_owned(), template.into()));
        }
    }
}

/// One endpoint's totals of one minute, as stored: the bucket and the sample paths last seen
/// in that minute. Its JSON is the bucket's fields plus `samples` when there are any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct MinuteTotals<'a> {
    /// The totals.
    #[serde(flatten)]
    pub bucket: std::borrow::Cow<'a, Bucket>,
    /// Sample paths (see [`hides_paths`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<PathSample>,
}

/// An endpoint's minute for the store: caller, callee, method, template and the totals.
#[derive(Clone, Debug)]
pub struct StoredMinute<'a> {
    /// Caller id.
    pub from: &'a str,
    /// Callee id.
    pub to: &'a str,
    /// Method.
    pub method: &'a str,
    /// Template.
    pub template: &'a str,
    /// The totals.
    pub totals: MinuteTotals<'a>,
}

/// An edge as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct EdgeView {
    /// Caller id.
    pub from: String,
    /// Callee id.
    pub to: String,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// All endpoints together.
    pub total: EndpointStats,
    /// Per endpoint, busiest first.
    pub endpoints: Vec<EndpointStats>,
}

#[cfg(test)]
mod tests;
