//! The narrow view of the proxy that the admin surface reads.

use crate::views::{
    AlertList, AlertView, BanLifted, BanList, CallPage, CallView, ClientList, EndpointList,
    FindingList, GraphView, History, HistoryQuery, NodeDetail, PolicyView, Readiness, SilenceList,
    SilenceView, StatusView,
};

/// Filters and paging for `GET /api/calls`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallQuery {
    /// Only calls to (inbound) or from (egress) this service.
    pub service: Option<String>,
    /// Only calls whose service, source, destination, host or path contains this text, in any
    /// case (held lowercase).
    pub find: Option<String>,
    /// An exact status (`503`) or a class (`5xx`); `error` for calls that got no status.
    pub status: Option<String>,
    /// `allowed`, `reported`, `blocked` or `limited`.
    pub decision: Option<String>,
    /// `inbound` or `egress`.
    pub direction: Option<String>,
    /// Only calls older than this cursor (from a previous page's `next`).
    pub before: Option<u64>,
    /// Only calls that started at or after this time (unix seconds). With `until` or `trace`,
    /// the calls come from the store's call log (when the proxy keeps one), not only the
    /// recent ones in memory; `before` then pages through that log.
    pub since: Option<u64>,
    /// Only calls that started at or before this time (unix seconds).
    pub until: Option<u64>,
    /// Only calls of this W3C trace id (32 lowercase hex digits).
    pub trace: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: usize,
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

/// `POST /api/silences`, as given; the proxy checks the kind and the times.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SilenceRequest {
    /// An alert kind such as `rate_anomaly`.
    pub kind: String,
    /// Only this subject; `None`: every subject of the kind.
    pub subject: Option<String>,
    /// For how long (`30m`, `2h`, `1d`), unless `until` is given.
    pub duration: Option<String>,
    /// Until when (RFC 3339), unless `duration` is given.
    pub until: Option<String>,
    /// Why.
    pub reason: String,
}

/// What the admin surface needs from the running proxy. Every answer is one of the typed
/// views in [`crate::views`], whose schemas the OpenAPI document is generated from.
pub trait AdminState: Send + Sync + 'static {
    /// Readiness for `/readyz`.
    fn readiness(&self) -> Readiness;
    /// Prometheus text exposition for `/metrics`.
    fn metrics(&self) -> String;
    /// Recent calls matching `query`, newest first.
    fn calls(&self, query: &CallQuery) -> CallPage;
    /// One call by request id, when it is still among the recent calls.
    fn call(&self, id: &str) -> Option<CallView>;
    /// The running configuration, listeners and reload status.
    fn status(&self) -> StatusView;
    /// The call graph over a window (`1m`, `5m`, `1h`, `24h`); `Err` names a bad window.
    fn graph(&self, window: &str) -> Result<GraphView, String>;
    /// Endpoints with traffic in the window, current stats against their baselines.
    fn endpoints(&self, window: &str) -> Result<EndpointList, String>;
    /// The graph as one instance of a fleet saw it (`None`: the whole fleet).
    fn graph_of(&self, window: &str, instance: Option<&str>) -> Result<GraphView, String>;
    /// The endpoints as one instance of a fleet saw them (`None`: the whole fleet).
    fn endpoints_of(&self, window: &str, instance: Option<&str>) -> Result<EndpointList, String>;
    /// First sightings and anomalies, newest first.
    fn anomalies(&self) -> FindingList;
    /// One node with its edges and findings; `None` when unknown.
    fn node(&self, id: &str, window: &str) -> Result<Option<NodeDetail>, String>;
    /// The busiest clients, at most `limit`.
    fn clients(&self, limit: usize) -> ClientList;
    /// Current bans.
    fn bans(&self) -> BanList;
    /// Lifts one client's ban; `None` when it had none.
    fn lift_ban(&self, client: &str) -> Option<BanLifted>;
    /// Alerts (newest first) and incidents; `Err` names a bad filter.
    fn alerts(&self, filter: &AlertFilter) -> Result<AlertList, String>;
    /// Applies `ack`, `resolve` or `reopen` to an alert and returns it; `None` when there is no such alert.
    fn alert_action(&self, id: u64, action: AlertAction) -> Option<AlertView>;
    /// The silences, newest first.
    fn silences(&self) -> SilenceList;
    /// Starts a silence; `Err` names what is wrong with the request.
    fn add_silence(&self, request: &SilenceRequest) -> Result<SilenceView, String>;
    /// Ends a silence; `None` when there is no such silence.
    fn delete_silence(&self, id: u64) -> Option<SilenceView>;
    /// Calls per minute over the last hour of the edges the query picks; `None` when it picks
    /// none.
    fn history(&self, query: &HistoryQuery) -> Option<History>;
    /// The effective enclave policy, client protections and reload status.
    fn policy(&self) -> PolicyView;
}

/// What `POST /api/alerts/{id}/...` does to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertAction {
    /// `ack`: someone is on it.
    Acknowledge,
    /// `resolve`: it is over.
    Resolve,
    /// `reopen`: undo an acknowledge or a resolve.
    Reopen,
}
