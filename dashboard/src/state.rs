//! The narrow view of the proxy that the admin surface reads.

use serde::Serialize;

/// Whether the process should receive traffic.
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    /// Ready to serve.
    pub ready: bool,
    /// Why not, when not ready (for example "draining").
    pub reason: String,
}

/// Filters and paging for `GET /api/calls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// Only calls to (inbound) or from (egress) this service.
    pub service: Option<String>,
    /// An exact status (`503`) or a class (`5xx`); `error` for calls that got no status.
    pub status: Option<String>,
    /// `allowed`, `reported`, `blocked` or `limited`.
    pub decision: Option<String>,
    /// `inbound` or `egress`.
    pub direction: Option<String>,
    /// Only calls older than this cursor (from a previous page's `next`).
    pub before: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: usize,
}

/// One call as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CallView {
    /// The request id (also in the `x-request-id` header and error bodies).
    pub id: String,
    /// Paging cursor: calls are numbered in the order they finished.
    pub seq: u64,
    /// When the request arrived, RFC 3339 UTC.
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
#[derive(Clone, Debug, Serialize)]
pub struct CallPage {
    /// The calls.
    pub calls: Vec<CallView>,
    /// Cursor for the next (older) page, if there may be one.
    pub next: Option<u64>,
}

/// Filters of `GET /api/alerts`, as given; the proxy checks the names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// `open`, `acknowledged` or `resolved`.
    pub state: Option<String>,
    /// An alert kind such as `egress_blocked`.
    pub kind: Option<String>,
    /// At least this severe: `info`, `low`, `medium`, `high` or `critical`.
    pub severity: Option<String>,
    /// At most this many alerts, 1 to 1000 (default 100).
    pub limit: usize,
}

/// What the admin surface needs from the running proxy.
pub trait AdminState: Send + Sync + 'static {
    /// Readiness for `/readyz`.
    fn readiness(&self) -> Readiness;
    /// Prometheus text exposition for `/metrics`.
    fn metrics(&self) -> String;
    /// Recent calls matching `query`, newest first.
    fn calls(&self, query: &CallQuery) -> CallPage;
    /// A JSON summary of the running configuration and its reload status.
    fn status(&self) -> serde_json::Value;
    /// The call graph over a window (`1m`, `5m`, `1h`, `24h`); `Err` names a bad window.
    fn graph(&self, window: &str) -> Result<serde_json::Value, String>;
    /// Endpoints with traffic in the window, current stats against their baselines.
    fn endpoints(&self, window: &str) -> Result<serde_json::Value, String>;
    /// First sightings and anomalies, newest first.
    fn anomalies(&self) -> serde_json::Value;
    /// One node with its edges and findings; `None` when unknown.
    fn node(&self, id: &str, window: &str) -> Result<Option<serde_json::Value>, String>;
    /// The busiest clients: `{"clients": [...]}`.
    fn clients(&self, _limit: usize) -> serde_json::Value {
        serde_json::json!({ "clients": [] })
    }
    /// Current bans: `{"bans": [...]}`.
    fn bans(&self) -> serde_json::Value {
        serde_json::json!({ "bans": [] })
    }
    /// Lifts one client's ban; `None` when it had none.
    fn lift_ban(&self, _client: &str) -> Option<serde_json::Value> {
        None
    }
    /// Alerts (newest first) and incidents: `{"alerts": [...], "incidents": [...]}`; `Err`
    /// names a bad filter.
    fn alerts(&self, filter: &AlertFilter) -> Result<serde_json::Value, String> {
        let _ = filter;
        Ok(serde_json::json!({ "alerts": [], "incidents": [] }))
    }
    /// Applies `ack` or `resolve` to an alert and returns it; `None` when there is no such alert.
    fn alert_action(&self, id: u64, action: &str) -> Option<serde_json::Value> {
        let _ = (id, action);
        None
    }

    /// One call by request id, when it is still among the recent calls.
    fn call(&self, id: &str) -> Option<CallView> {
        let q = CallQuery {
            limit: 1000,
            ..CallQuery::default()
        };
        self.calls(&q).calls.into_iter().find(|c| c.id == id)
    }
    /// Calls per minute over the last hour for one node (`node`) or one edge (`from`, `to`):
    /// `{"minutes": [{"at", "count", "errors", "blocked", "p90_ms"}]}`; `None` when unknown.
    fn history(&self, node: Option<&str>, edge: Option<(&str, &str)>) -> Option<serde_json::Value> {
        let _ = (node, edge);
        None
    }
    /// The effective enclave policy, client protections and reload status.
    fn policy(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
