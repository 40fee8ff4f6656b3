//! What the admin API answers: one type per JSON shape. The proxy fills these in; the router
//! serializes them; the OpenAPI document's schemas are generated from the same types, so the
//! document describes exactly what is sent.

use schemars::JsonSchema;
use serde::Serialize;
use std::collections::BTreeMap;

/// Every alert kind, as config, API and sinks name them.
pub const ALERT_KINDS: &[&str] = &[
    "egress_blocked",
    "egress_reported",
    "unknown_egress_source",
    "new_service",
    "new_edge",
    "new_endpoint",
    "new_external_destination",
    "inventory",
    "shadow_endpoint",
    "rate_anomaly",
    "error_anomaly",
    "latency_anomaly",
    "client_limited",
    "client_banned",
    "scanning",
    "uncommon_usage",
    "credential_stuffing",
    "flood",
    "store_failing",
    "sink_failing",
    "dropped_records",
    "fleet_backend_failing",
];

/// The windows the graph views accept.
pub const WINDOWS: &[&str] = &["1m", "5m", "1h", "24h"];

/// `GET /healthz`: the process answers.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// An error answer.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// A short machine-readable class (`bad_query`, `not_found`, ...).
    pub error: String,
    /// What was wrong, for people.
    pub reason: String,
}

/// Whether the process should receive traffic.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// Ready to serve.
    pub ready: bool,
    /// Why not, when not ready (for example "draining").
    pub reason: String,
    /// In a fleet: each shared back-end's state, `redis` and `postgres` to `up`, `down` or
    /// `connecting` (a PostgreSQL that is down leaves the instance ready: writes are buffered).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty", default)]
    pub backends: BTreeMap<String, String>,
}

/// One call as the API shows it (and as the store's call log keeps it).
#[derive(Clone, Debug, Serialize, serde::Deserialize, JsonSchema)]
#[schemars(rename = "Call")]
pub struct CallView {
    /// The request id (also in the `x-request-id` header and error bodies).
    pub id: String,
    /// Paging cursor: calls are numbered in the order they finished.
    pub seq: u64,
    /// When the request arrived, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub time: String,
    /// `inbound` or `egress`.
    pub direction: String,
    /// Who called: a client identity or address.
    pub source: String,
    /// The caller's socket address.
    pub source_addr: String,
    /// The service (inbound) or host (egress) called; `-` when unrouted.
    pub destination: String,
    /// The service the call belongs to, as the `service` filter selects it: the one called
    /// (inbound) or the one calling out (egress); none for unrouted inbound calls and egress
    /// calls from unidentified sources.
    #[serde(default)]
    pub service: Option<String>,
    /// The upstream address that answered, when one was dialed.
    pub upstream: Option<String>,
    /// Egress: whether the destination is inside the enclave.
    pub inside_enclave: Option<bool>,
    /// Egress tunnels: the TLS server name the client sent.
    pub sni: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The host the client asked for.
    pub host: String,
    /// The request path, capped in length.
    pub path: String,
    /// The route that matched (template once analysis knows it).
    pub route: String,
    /// The response status sent to the client; 0 when the connection ended without one.
    pub status: u16,
    /// Total time from request to the end of the response body, milliseconds.
    pub duration_ms: f64,
    /// Time until the upstream's response headers, milliseconds.
    pub upstream_ms: Option<f64>,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// `h1`, `h2`, `upgrade`, `tunnel`.
    pub protocol: String,
    /// Whether the client connection was TLS.
    pub tls: bool,
    /// `allowed`, `reported`, `blocked` or `limited`.
    pub decision: String,
    /// Why, when not simply allowed or when the call failed.
    pub reason: String,
    /// The error class when the proxy answered for the upstream (`upstream_timeout`, ...).
    pub error: Option<String>,
    /// W3C trace id of the call.
    pub trace_id: String,
    /// Inbound: the client id the client protections keyed the call by.
    pub client: Option<String>,
    /// The client protection that limited, blocked or reported the call.
    pub protection: Option<String>,
}

/// One page of calls, newest first.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CallPage {
    /// The calls.
    pub calls: Vec<CallView>,
    /// Cursor for the next (older) page, if there may be one.
    pub next: Option<u64>,
}

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For the record.
    Info,
    /// Worth a look.
    Low,
    /// Worth a look soon.
    Medium,
    /// Act now.
    High,
    /// Act now, it is bad.
    Critical,
}

/// Where an alert or incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Not yet handled.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Over.
    Resolved,
}

/// Whether one sink got an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not yet delivered.
    Pending,
    /// Delivered.
    Delivered,
    /// Failed so far; retried.
    Failed,
}

/// One alert, as the API, the alert stream and the sinks show it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Alert")]
pub struct AlertView {
    /// Increasing id.
    pub id: u64,
    /// What it is about (`egress_blocked`, `new_edge`, ...).
    #[schemars(extend("enum" = ALERT_KINDS))]
    pub kind: String,
    /// How urgent.
    pub severity: Severity,
    /// Open, acknowledged or resolved.
    pub state: AlertState,
    /// The thing it is about: a node, an edge, a source, a sink.
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Repeats counted while not resolved.
    pub count: u64,
    /// First repeat, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub first_seen: String,
    /// Latest repeat, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub last_seen: String,
    /// Facts of the latest repeat (observed against expected, the call, the reason).
    pub evidence: serde_json::Value,
    /// Resolved by hand: until when (RFC 3339 UTC) repeats of its cause count on it instead of
    /// opening a new alert.
    #[schemars(extend("format" = "date-time"))]
    pub snoozed_until: Option<String>,
    /// The incident it belongs to.
    pub incident: Option<u64>,
    /// The silence that matched it: recorded and shown, never sent to sinks.
    pub silenced_by: Option<u64>,
    /// Graph node ids it touches.
    pub nodes: Vec<String>,
    /// Delivery per sink name.
    pub delivery: BTreeMap<String, DeliveryStatus>,
    /// In a fleet: the instance that raised it, when another than the one answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// A silence: alerts of a kind (about one subject, or any) that open while it lasts are
/// recorded and shown as silenced, but not sent to sinks.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Silence")]
pub struct SilenceView {
    /// Increasing id.
    pub id: u64,
    /// The alert kind it silences.
    #[schemars(extend("enum" = ALERT_KINDS))]
    pub kind: String,
    /// Only this subject; null: every subject of the kind.
    pub subject: Option<String>,
    /// Its end, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub until: String,
    /// Why, for the next person.
    pub reason: String,
    /// Its start, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub created: String,
    /// Whether it is in force now.
    pub active: bool,
}

/// `GET /api/silences`: the silences, newest first.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Silences")]
pub struct SilenceList {
    /// The silences.
    pub silences: Vec<SilenceView>,
}

/// Related alerts around one root subject.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Incident")]
pub struct IncidentView {
    /// Increasing id.
    pub id: u64,
    /// The node most of its alerts touch.
    pub root: String,
    /// Open while any of its alerts is not resolved.
    pub state: AlertState,
    /// Its alerts' ids, oldest first (capped).
    pub alerts: Vec<u64>,
    /// RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub first_seen: String,
    /// RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub last_seen: String,
    /// In a fleet: the instance that raised it, when another than the one answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// `GET /api/alerts`: alerts (newest first) and incidents.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Alerts")]
pub struct AlertList {
    /// The alerts matching the filter.
    pub alerts: Vec<AlertView>,
    /// Incidents, newest first.
    pub incidents: Vec<IncidentView>,
}

/// One client, as `GET /api/clients` lists it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Client")]
pub struct ClientView {
    /// The client id.
    pub id: String,
    /// `certificate`, `api_key`, `named` or `address`.
    pub kind: String,
    /// Calls seen.
    pub requests: u64,
    /// Calls refused with 429/503.
    pub limited: u64,
    /// Calls refused with 403.
    pub blocked: u64,
    /// Calls answered 4xx.
    pub errors_4xx: u64,
    /// Last call, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub last_seen: String,
    /// End of the current ban, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub banned_until: Option<String>,
    /// The internal service this client is (its address is an egress source network of the
    /// service, or its certificate an egress identity of it); null for other clients.
    pub service: Option<String>,
    /// The client's address is on an allow list: it is never limited or banned.
    pub allow_listed: bool,
}

/// `GET /api/clients`: the busiest clients.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Clients")]
pub struct ClientList {
    /// Busiest first.
    pub clients: Vec<ClientView>,
}

/// One ban in force.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Ban")]
pub struct BanView {
    /// The client id.
    pub client: String,
    /// `failed_logins` or `scanning`.
    pub reason: String,
    /// Start, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub since: String,
    /// End, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub until: String,
    /// Bans in a row.
    pub strikes: u32,
}

/// `GET /api/bans`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Bans")]
pub struct BanList {
    /// Longest-lasting first.
    pub bans: Vec<BanView>,
}

/// `POST /api/bans/lift`: the ban is gone.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct BanLifted {
    /// The client.
    pub client: String,
    /// Always true.
    pub lifted: bool,
}

/// One minute of traffic.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Minute {
    /// Unix seconds at the start of the minute.
    pub at: u64,
    /// Calls.
    pub count: u64,
    /// 5xx answers and calls without an answer.
    pub errors: u64,
    /// Calls refused by policy.
    pub blocked: u64,
    /// 90th percentile latency, milliseconds (0 without calls).
    pub p90_ms: f64,
}

/// `GET /api/history`: the last hour, minute by minute, oldest first.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct History {
    /// 60 minutes.
    pub minutes: Vec<Minute>,
}

/// Which edges `GET /api/history` sums: each given id must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Edges with this node at either end.
    pub node: Option<String>,
    /// Edges from this node.
    pub from: Option<String>,
    /// Edges to this node.
    pub to: Option<String>,
}

/// `GET /api/status`: version, configuration, listeners and services.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Status")]
pub struct StatusView {
    /// The running version.
    pub version: String,
    /// Process start, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub started: String,
    /// The configuration in force and the last reload.
    pub config: ConfigStatus,
    /// Bound addresses.
    pub listeners: Listeners,
    /// Services with their upstreams.
    pub services: Vec<ServiceStatus>,
    /// The fleet this instance belongs to, when `fleet` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
}

/// The fleet this instance belongs to and the state of its shared back-ends.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FleetStatus {
    /// This instance's name.
    pub instance: String,
    /// Each shared back-end (`redis`, `postgres`).
    pub backends: Vec<FleetBackend>,
    /// The shared store (PostgreSQL), when one is configured.
    pub postgres: Option<BackendStatus>,
    /// Every instance that heartbeats into the shared store, this one included.
    pub instances: Vec<InstanceStatus>,
    /// Whether this instance runs the detection on the fleet's totals (it holds the
    /// PostgreSQL advisory lock; one instance at a time). False without PostgreSQL.
    pub detection_leader: bool,
}

/// A shared back-end's state.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct BackendStatus {
    /// `up`, `down` or `connecting`.
    pub state: String,
    /// The last error while it is not up.
    pub error: Option<String>,
    /// Writes waiting for it.
    pub pending: u64,
    /// Writes dropped while it was away and the buffer was full.
    pub dropped: u64,
}

/// One instance of a fleet.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct InstanceStatus {
    /// Its name.
    pub instance: String,
    /// Its version.
    pub version: String,
    /// Its admin address.
    pub admin: String,
    /// Its last heartbeat, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub last_heartbeat: String,
    /// Whether it heartbeated within the last ten seconds.
    pub alive: bool,
}

/// One shared back-end of the fleet.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FleetBackend {
    /// `redis` or `postgres`.
    pub name: String,
    /// Where it is (scheme, host, port, database; never credentials).
    pub target: String,
    /// `up` or `down`.
    pub state: String,
    /// Since when, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub since: String,
    /// The last error, while down (or `connecting`).
    pub error: Option<String>,
    /// What the protections do while it is down: `open` or `closed` (Redis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail: Option<String>,
    /// Live instances it counts (Redis heartbeats).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<u64>,
}

/// The configuration in force.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ConfigStatus {
    /// The file it came from (none for the demo).
    pub file: Option<String>,
    /// Bumped on every applied reload.
    pub generation: u64,
    /// When a reload was last tried, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub last_reload: Option<String>,
    /// Whether it was applied.
    pub last_reload_ok: Option<bool>,
    /// Why it was rejected.
    pub last_reload_error: Option<String>,
}

/// Bound listener addresses.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Listeners {
    /// The reverse proxy.
    pub inbound: Option<String>,
    /// Whether it terminates TLS.
    pub inbound_tls: bool,
    /// This admin surface.
    pub admin: Option<String>,
    /// The forward proxy.
    pub egress: Option<String>,
}

/// One service.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// Configured upstream addresses.
    pub upstreams: Vec<String>,
    /// How many pass health checks now.
    pub healthy_upstreams: u64,
}

/// `POST /api/login`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LoggedIn {
    /// Always true.
    pub ok: bool,
    /// Whether the API needs the token (else the login was a formality).
    pub token_required: bool,
}

/// `POST /api/logout`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LoggedOut {
    /// Always true.
    pub ok: bool,
}

/// What a graph node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
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
    /// The kind's name, as the API shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeKind::Service => "service",
            NodeKind::Client => "client",
            NodeKind::InternalUnknown => "internal-unknown",
            NodeKind::External => "external",
            NodeKind::Internet => "internet",
        }
    }
}

/// A node of the call graph.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Node {
    /// Stable id: `kind:label` (`service:orders`, `external:api.stripe.com`, `internet`).
    pub id: String,
    /// What it is.
    pub kind: NodeKind,
    /// What people read.
    pub label: String,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
}

/// A node active in a graph window.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GraphNode {
    /// The node.
    #[serde(flatten)]
    pub node: Node,
    /// First seen inside the window.
    pub new: bool,
}

/// Latency quantiles, milliseconds.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Traffic of an endpoint (or of a whole edge) over a window.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EndpointStats {
    /// Method (`*` for an edge total).
    pub method: String,
    /// Route template (`*` for an edge total).
    pub template: String,
    /// Calls.
    pub count: u64,
    /// Calls per second.
    pub rate: f64,
    /// Share of 4xx answers.
    pub ratio_4xx: f64,
    /// Share of 5xx answers and calls without an answer.
    pub ratio_5xx: f64,
    /// Latency quantiles, milliseconds.
    pub latency_ms: Quantiles,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Calls refused by policy.
    pub blocked: u64,
    /// Calls let through with an objection.
    pub reported: u64,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
    /// For a template that stands for raw paths it does not show (`/{unmatched}`: calls
    /// answered 404 or 405 that match no endpoint; `/{overflow}`: past the template cap): a few
    /// of the paths seen in the window, across the fleet, most recent first (at most 8, each
    /// at most 160 bytes, no query). Absent for other endpoints. Attacker-chosen text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<PathSample>,
}

/// A raw path seen under an endpoint whose template hides paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PathSample {
    /// The path as the client sent it, without the query.
    pub path: String,
    /// Unix seconds it was last seen.
    pub last_seen: u64,
}

/// An edge (caller to callee) with traffic in a window.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Edge {
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

/// An inbound endpoint whose handling called out to a destination (linked by trace id).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Dependency {
    /// The service node id.
    pub service: String,
    /// The inbound endpoint, `METHOD template`.
    pub endpoint: String,
    /// The egress destination node id.
    pub to: String,
    /// Calls linked so far.
    pub calls: u64,
}

/// The call graph over a window, as the analysis knows it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GraphView {
    /// The window (`1m`, `5m`, `1h`, `24h`).
    pub window: String,
    /// Its end, unix seconds.
    pub now: u64,
    /// Nodes active in the window.
    pub nodes: Vec<GraphNode>,
    /// Edges with traffic in the window.
    pub edges: Vec<Edge>,
    /// Which inbound endpoints call which destinations (all time).
    pub dependencies: Vec<Dependency>,
    /// Observations that did not fit under the caps.
    pub overflow: u64,
}

/// A node placed in the drawing.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlacedNode {
    /// The node.
    #[serde(flatten)]
    pub node: GraphNode,
    /// Left edge of its box, drawing units.
    pub x: f64,
    /// Top edge of its box, drawing units.
    pub y: f64,
    /// Column, left to right.
    pub layer: u64,
}

/// An edge routed in the drawing.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PlacedEdge {
    /// The edge.
    #[serde(flatten)]
    pub edge: Edge,
    /// The polyline from caller to callee, when both ends are drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<Vec<[f64; 2]>>,
    /// Whether it runs right to left (a call back to an earlier column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backwards: Option<bool>,
}

/// The drawing's size.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Drawing {
    /// Drawing units.
    pub width: f64,
    /// Drawing units.
    pub height: f64,
    /// A node box's width.
    pub node_width: f64,
    /// A node box's height.
    pub node_height: f64,
    /// Edge crossings the layout could not remove.
    pub crossings: u64,
}

/// `GET /api/graph`: the graph laid out in columns.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Graph")]
pub struct PlacedGraph {
    /// The window.
    pub window: String,
    /// Its end, unix seconds.
    pub now: u64,
    /// Nodes with positions.
    pub nodes: Vec<PlacedNode>,
    /// Edges with routes.
    pub edges: Vec<PlacedEdge>,
    /// Which inbound endpoints call which destinations (all time).
    pub dependencies: Vec<Dependency>,
    /// Observations that did not fit under the caps.
    pub overflow: u64,
    /// The drawing's size.
    pub layout: Drawing,
}

/// What the baseline expects of an endpoint.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Baseline {
    /// Still inside the learning period (no statistical anomalies yet).
    pub learning: bool,
    /// Expected calls per minute now (whatever the baseline's step).
    pub rate_per_min: f64,
    /// The normal band of calls per minute.
    pub band: [f64; 2],
    /// The baseline's step, seconds (60 by default): what it counts calls over, before they
    /// are shown per minute.
    pub step_seconds: f64,
}

/// An endpoint with traffic, against its baseline.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Endpoint {
    /// The callee's node id.
    pub node: String,
    /// The caller's node id.
    pub caller: String,
    /// Served, but absent from the host's OpenAPI document.
    pub shadow: bool,
    /// Current traffic over the window.
    #[serde(flatten)]
    pub stats: EndpointStats,
    /// What the baseline expects, once it knows enough.
    pub baseline: Option<Baseline>,
}

/// `GET /api/endpoints`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Endpoints")]
pub struct EndpointList {
    /// The window.
    pub window: String,
    /// Busiest first.
    pub endpoints: Vec<Endpoint>,
}

/// A first sighting or a departure from the baseline.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Finding {
    /// Increasing id.
    pub id: u64,
    /// `new_node`, `new_edge`, `new_endpoint` or an anomaly kind.
    pub kind: String,
    /// What it is about: a node id, `from -> to`, or `from -> to METHOD template`.
    pub subject: String,
    /// Unix seconds.
    pub at: u64,
    /// For first sightings the new entity; for anomalies observed, expected, band, window.
    pub evidence: serde_json::Value,
    /// In a fleet: the instance that raised it (the fleet's anomalies: the detection leader), when another than the one answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// `GET /api/anomalies`: newest first.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Anomalies")]
pub struct FindingList {
    /// The findings.
    pub anomalies: Vec<Finding>,
}

/// `GET /api/nodes/{id}`: a node with its edges in and out and its findings.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "NodeDetail")]
pub struct NodeDetail {
    /// The node.
    pub node: Node,
    /// Its edges with traffic in the window.
    pub edges: Vec<Edge>,
    /// Findings about it (at most 50).
    pub findings: Vec<Finding>,
}

/// `GET /api/policy`: the effective policy of the config in force, with its reload status.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(rename = "Policy")]
pub struct PolicyView {
    /// The enclave and its egress rules.
    pub enclave: EnclavePolicy,
    /// The egress listener, when configured.
    pub egress: Option<EgressPolicy>,
    /// Client identification and protections.
    pub clients: ClientsPolicy,
    /// The inbound listener.
    pub inbound: InboundPolicy,
    /// Timeouts and size limits on the data path.
    pub limits: LimitsPolicy,
    /// The admin listener.
    pub admin: AdminPolicy,
    /// The config file and the last reload.
    pub reload: ReloadPolicy,
}

/// The enclave.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EnclavePolicy {
    /// `enforce` or `report`.
    pub mode: String,
    /// The networks inside the enclave.
    pub networks: Vec<NetworkPolicy>,
    /// Egress rules, in order.
    pub rules: Vec<RulePolicy>,
}

/// One enclave network.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct NetworkPolicy {
    /// CIDR.
    pub net: String,
    /// CIDRs carved out of it.
    pub except: Vec<String>,
}

/// One egress rule.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct RulePolicy {
    /// The calling service it applies to (all when null).
    pub service: Option<String>,
    /// `allow` or `deny`.
    pub action: String,
    /// Host patterns.
    pub hosts: Vec<String>,
    /// Destination networks.
    pub cidrs: Vec<String>,
    /// Destination ports (all when empty).
    pub ports: Vec<u16>,
    /// `enforce` or `report`.
    pub mode: String,
}

/// The egress listener.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct EgressPolicy {
    /// Where it listens.
    pub listen: String,
    /// Source networks and the service each one is.
    pub sources: Vec<SourcePolicy>,
    /// Services that may authenticate with a credential (never the secret).
    pub credentials: Vec<String>,
    /// Client-certificate identities and the service each one is.
    pub identities: BTreeMap<String, String>,
    /// Milliseconds.
    pub connect_timeout_ms: u64,
    /// Milliseconds.
    pub idle_timeout_ms: u64,
    /// Whether it terminates TLS.
    pub tls: bool,
}

/// A source network of the egress listener.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SourcePolicy {
    /// CIDR.
    pub cidr: String,
    /// The service calling from it.
    pub service: String,
}

/// How clients are identified and protected.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ClientsPolicy {
    /// Whether the `clients` section was given.
    pub enabled: bool,
    /// How callers are identified.
    pub identity: IdentityPolicy,
    /// What a ban does.
    pub bans: BanPolicy,
    /// One row per protection in force.
    pub protections: Vec<ProtectionRow>,
}

/// How callers are identified.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct IdentityPolicy {
    /// The header carrying an API key.
    pub api_key_header: Option<String>,
    /// The header naming the client behind a trusted proxy.
    pub forwarded_header: String,
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<String>,
    /// Named client networks.
    pub named: Vec<NamedNetwork>,
    /// IPv6 clients are grouped by this prefix length.
    pub ipv6_prefix: u8,
}

/// A named client network.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct NamedNetwork {
    /// CIDR.
    pub cidr: String,
    /// The client name.
    pub name: String,
}

/// What a ban does.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct BanPolicy {
    /// `forbid` (403) or `close` (drop the connection).
    pub action: String,
}

/// One client protection.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ProtectionRow {
    /// What it is (`rate per client`, `failed logins`, ...).
    pub protection: String,
    /// Its setting, for people.
    pub setting: String,
    /// `enforce`, `report` or `report only`.
    pub mode: String,
}

/// The inbound listener.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct InboundPolicy {
    /// Where it listens.
    pub listen: String,
    /// Whether it terminates TLS.
    pub tls: bool,
    /// How many routes it has.
    pub routes: u64,
}

/// Timeouts and size limits on the data path.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LimitsPolicy {
    /// Milliseconds.
    pub header_read_timeout_ms: u64,
    /// Bytes.
    pub max_header_bytes: u64,
    /// Bytes.
    pub max_uri_bytes: u64,
    /// Bytes; null for no limit.
    pub max_request_body: Option<u64>,
    /// Milliseconds.
    pub request_timeout_ms: u64,
    /// Milliseconds.
    pub upstream_connect_timeout_ms: u64,
    /// Milliseconds.
    pub idle_timeout_ms: u64,
    /// Concurrent client connections.
    pub max_connections: u64,
    /// Milliseconds.
    pub drain_timeout_ms: u64,
}

/// The admin listener.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct AdminPolicy {
    /// Where it listens.
    pub listen: String,
    /// Whether the API needs the token.
    pub token_required: bool,
}

/// The config file and the last reload.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ReloadPolicy {
    /// The file (none for the demo).
    pub file: Option<String>,
    /// Bumped on every applied reload.
    pub generation: u64,
    /// When a reload was last tried, RFC 3339 UTC.
    #[schemars(extend("format" = "date-time"))]
    pub at: Option<String>,
    /// Whether it was applied.
    pub ok: Option<bool>,
    /// Why it was rejected.
    pub error: Option<String>,
}
