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
}

/// One call as the API shows it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
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
    /// The incident it belongs to.
    pub incident: Option<u64>,
    /// Graph node ids it touches.
    pub nodes: Vec<String>,
    /// Delivery per sink name.
    pub delivery: BTreeMap<String, DeliveryStatus>,
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
