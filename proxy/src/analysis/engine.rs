//! The analysis task's state: every record becomes a graph observation under its route
//! template; each closed minute feeds the endpoints' baselines; first sightings and
//! statistical anomalies are kept (bounded) and logged as events.

use super::baseline::DetectorConfig;
use super::graph::{Graph, GraphLimits, NewEntity, NodeKind, Observation, Party};
use super::sketch::Latency;
use super::template::{TemplateConfig, Templater};
use super::watch::Watches;
use crate::record::{CallRecord, Direction};
use serde::Serialize;
use sightline_policy::clients::{Clock, SystemClock};
use sightline_policy::{Decision, Network};
use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Anomalies and first sightings kept for the API.
pub const MAX_ANOMALIES: usize = 1_000;

/// Shadow endpoints remembered (served, absent from their OpenAPI document).
pub const MAX_SHADOW: usize = 10_000;

mod findings;
mod fleet;
mod links;
mod restored;
mod views;

pub use findings::Finding;
pub use fleet::FleetDetection;
pub use links::{
    LinkOverflow, LinkSizes, MAX_DEPENDENCIES, MAX_DESTINATIONS_PER_TRACE, MAX_TRACES,
};
pub use restored::Restored;
pub use views::{BaselineView, DependencyView, EndpointView, GraphView, NodeView};

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
    /// The route template of the call [`Analysis::observe_dated`] saw last.
    last_template: Option<Arc<str>>,
    /// A fleet's detection, when it detects on the fleet's totals.
    fleet: Option<Arc<dyn FleetDetection>>,
    /// The clock that closes steps: the system's, or one a test moves step by step.
    clock: Arc<dyn Clock>,
    /// Statistical incidents under way.
    incidents: Vec<findings::OpenIncident>,
    /// The observation [`Analysis::observe_dated`] fills for each call, kept between calls.
    scratch: Option<Observation>,
    /// The template of every tunnel, shared.
    connect: Arc<str>,
    /// The latest reading of the clock (ms since the epoch): a call that started no later
    /// started no later than now, so the clock is read only for calls that started after it.
    clock_seen: u64,
}

/// An observation to fill in.
fn empty_observation() -> Observation {
    let party = || Party {
        kind: NodeKind::Internet,
        label: String::new(),
    };
    Observation {
        from: party(),
        to: party(),
        method: String::new(),
        template: Arc::from(""),
        at: 0,
        status: 0,
        latency: Default::default(),
        bytes_in: 0,
        bytes_out: 0,
        blocked: false,
        reported: false,
    }
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
            fleet: None,
            clock: Arc::new(SystemClock),
            incidents: Vec::new(),
            scratch: None,
            connect: Arc::from("CONNECT"),
            clock_seen: 0,
        }
    }

    /// Reads time from `clock` (the runtime's clock): steps close when it moves on, and a call
    /// counts in the step of its start or of the clock's now, whichever is earlier. With the
    /// system clock that is always the call's start; a clock held behind the wall clock (a
    /// test's) drives the steps one by one, whatever the machine's load.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
        self.clock_seen = 0;
    }

    /// The clock's now, in milliseconds since the epoch.
    fn now_ms(&self) -> u64 {
        self.clock.now() / 1000
    }

    /// When a call that started at `start_ms` counts: its start, or the clock's now when that
    /// is earlier. A start no later than a reading already taken is the earlier one without
    /// reading the clock again (nearly every call: the calls queued together started before
    /// the first of them was taken), as a clock that does not go back gives no earlier now;
    /// should the wall clock be set back, such a call counts at its start.
    fn count_at_ms(&mut self, start_ms: u64) -> u64 {
        if start_ms <= self.clock_seen {
            return start_ms;
        }
        let now = self.now_ms();
        self.clock_seen = self.clock_seen.max(now);
        start_ms.min(now)
    }

    /// Closes every step before the clock's now (see [`Analysis::advance_to`]).
    pub fn advance_now(&mut self) -> Vec<Finding> {
        self.advance_to_ms(self.now_ms())
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
            if let Ok(totals) = serde_json::from_str::<super::graph::MinuteTotals>(&totals) {
                self.graph
                    .restore_minute(from, to, method, template, &totals);
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
            for m in self.graph.minute_buckets(minute) {
                let Ok(json) = serde_json::to_string(&m.totals) else {
                    continue;
                };
                let key = super::watch::join_key(m.from, m.to, m.method, m.template);
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

    /// Writes the two parties of a record into `from` and `to` (their labels keep their
    /// capacity from call to call); false when it has no place in the graph (unrouted).
    fn parties(&self, rec: &CallRecord, from: &mut Party, to: &mut Party) -> bool {
        fn set(p: &mut Party, kind: NodeKind, label: &str) {
            p.kind = kind;
            p.label.clear();
            p.label.push_str(label);
        }
        fn set_ip(p: &mut Party, kind: NodeKind, ip: IpAddr) {
            use std::fmt::Write;
            p.kind = kind;
            p.label.clear();
            let _ = write!(p.label, "{ip}");
        }
        match rec.direction {
            Direction::Inbound => {
                let Some(service) = rec.service.as_deref() else {
                    return false;
                };
                set(to, NodeKind::Service, service);
                let ip = rec.source_addr.ip();
                match (&rec.caller_service, &rec.source_identity) {
                    (Some(s), _) => set(from, NodeKind::Service, s),
                    (None, Some(id)) => set(from, NodeKind::Client, id),
                    (None, None) if self.inside(ip) => set_ip(from, NodeKind::InternalUnknown, ip),
                    (None, None) => set(from, NodeKind::Internet, "internet"),
                }
            }
            Direction::Egress => {
                match &rec.service {
                    Some(s) => set(from, NodeKind::Service, s),
                    None => set_ip(from, NodeKind::InternalUnknown, rec.source_addr.ip()),
                }
                let kind = if rec.inside == Some(true) {
                    NodeKind::InternalUnknown
                } else {
                    NodeKind::External
                };
                set(to, kind, &rec.host);
            }
        }
        true
    }

    /// [`Analysis::observe_dated`] for a call whose `start` is set (tests build such records;
    /// the recorder dates its own).
    #[cfg(test)]
    pub fn observe(&mut self, rec: &CallRecord) -> Vec<Finding> {
        self.observe_dated(rec, crate::clock::unix_nanos(rec.start))
    }

    /// Adds one finished call, which started `start_nanos` after the Unix epoch (as the
    /// recorder dated it: no conversion of `rec.start` again); returns the findings it raised.
    pub fn observe_dated(&mut self, rec: &CallRecord, start_nanos: u64) -> Vec<Finding> {
        self.last_template = None;
        let start_ms = start_nanos / 1_000_000;
        let at_ms = self.count_at_ms(start_ms);
        let at = at_ms / 1000;
        let mut found = self.advance_to_ms(at_ms);
        // The observation's strings are reused from the last call: nothing is allocated to
        // find a known node, edge and endpoint.
        let mut o = self.scratch.take().unwrap_or_else(empty_observation);
        if !self.parties(rec, &mut o.from, &mut o.to) {
            self.scratch = Some(o);
            return found;
        }
        let (template, shadow): (Arc<str>, bool) = if rec.protocol.opaque() {
            (self.connect.clone(), false)
        } else {
            let c = self
                .templater
                .classify(&rec.host, &rec.method, rec.matched_path(), rec.status);
            (c.template, c.shadow)
        };
        self.last_template = Some(template.clone());
        o.method.clear();
        o.method.push_str(rec.method.as_str());
        o.template = template;
        o.at = at;
        o.status = rec.status.unwrap_or(0);
        o.latency = Latency::of(rec.duration);
        o.bytes_in = rec.bytes_in;
        o.bytes_out = rec.bytes_out;
        o.blocked = rec.decision == Decision::Blocked;
        o.reported = rec.decision == Decision::Reported;
        let (ids, news, places) = self.graph.observe_call(&o);
        if let Some((from, to)) = &ids {
            let mut unplaced = Default::default();
            let places = places.unwrap_or(&mut unplaced);
            self.watches.count_call(from, to, &o, places);
            if super::graph::hides_paths(&o.template) {
                let ends = (from.as_ref(), to.as_ref());
                self.graph
                    .sample(ends, &o.method, &o.template, &rec.path, at);
            }
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
        self.scratch = Some(o);
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

    /// The call graph itself.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

/// Node ids from parties.
struct Node;

impl Node {
    fn id(p: &Party) -> String {
        super::graph::Node::id_of(p.kind, &p.label)
    }
}

#[cfg(test)]
mod tests;
