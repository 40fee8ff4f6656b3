//! The proxy's side of the admin surface: what the dashboard crate may read.

pub mod exposition;
mod policy;
mod protections;

use crate::analysis::graph::Window;
use crate::clock::{self, rfc3339};
pub use crate::record::view;
use crate::state::Shared;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use sightline_dashboard::views::{
    self, AlertList, AlertView, BanLifted, BanList, ClientList, History, HistoryQuery,
    IncidentView, StatusView,
};
use sightline_dashboard::{
    AdminAuth, AdminState, AlertAction, AlertFilter, CallPage, CallQuery, CallView, Readiness,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// What an admin connection knows of its listener.
#[derive(Clone, Debug, Default)]
pub struct AdminListener {
    /// The dashboard's sessions, shared by every connection of the listener.
    pub sessions: Arc<sightline_dashboard::Sessions>,
    /// The port it is bound to.
    pub port: u16,
    /// This connection speaks TLS.
    pub tls: bool,
}

/// A read-only view of the running proxy for the admin API.
#[derive(Debug)]
pub struct AdminView {
    shared: Arc<Shared>,
    listener: AdminListener,
}

impl AdminView {
    /// A view of `shared` for a connection of `listener`.
    pub fn new(shared: Arc<Shared>, listener: AdminListener) -> Self {
        AdminView { shared, listener }
    }

    /// How requests are authorised under the config in force.
    fn auth(&self) -> AdminAuth {
        let active = self.shared.active();
        AdminAuth {
            token: active.config.admin.token.clone(),
            listen_port: Some(self.listener.port),
            tls: self.listener.tls,
            sessions: self.listener.sessions.clone(),
            session_lifetime: active.config.admin.session_lifetime,
        }
    }

    /// Answers one admin request (body already read) with the token of the config in force.
    pub fn handle<B>(&self, req: &Request<B>, body: &[u8]) -> Response<Full<Bytes>> {
        sightline_dashboard::handle(req, body, self, &self.auth())
    }

    /// Answers one admin request: `GET /api/alerts/stream` gets a streamed body; for other
    /// requests the body (at most [`sightline_dashboard::MAX_BODY`] bytes; ignored on GET and
    /// HEAD) is read first.
    pub async fn handle_incoming<B>(
        &self,
        req: Request<B>,
    ) -> Response<UnsyncBoxBody<Bytes, std::convert::Infallible>>
    where
        B: http_body::Body,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let head = Request::from_parts(parts, ());
        if head.method() == http::Method::GET || head.method() == http::Method::HEAD {
            return self.handle_streaming(&head);
        }
        // Authentication and routing first: a body is read only for a request that may have
        // one answered, and within the read timeout.
        let auth = self.auth();
        let read_timeout = self.shared.active().config.admin.read_timeout;
        if let Some(refused) = sightline_dashboard::refuse_before_body(&head, &auth) {
            return refused.map(BodyExt::boxed_unsync);
        }
        let limited = http_body_util::Limited::new(body, sightline_dashboard::MAX_BODY);
        let resp = match tokio::time::timeout(read_timeout, limited.collect()).await {
            Ok(Ok(collected)) => {
                sightline_dashboard::handle(&head, &collected.to_bytes(), self, &auth)
            }
            Ok(Err(_)) => body_error(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "bad_body",
                "the body is too large or broken",
            ),
            Err(_) => {
                let mut resp = body_error(
                    http::StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    &format!("the request body did not arrive within {read_timeout:?}"),
                );
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                resp
            }
        };
        resp.map(BodyExt::boxed_unsync)
    }

    /// Answers a bodiless request; `GET /api/alerts/stream` gets a streamed body.
    fn handle_streaming<B>(
        &self,
        req: &Request<B>,
    ) -> Response<UnsyncBoxBody<Bytes, std::convert::Infallible>> {
        let stream = req.uri().path() == "/api/alerts/stream" && req.method() == http::Method::GET;
        let auth = self.auth();
        if !stream || auth.misdirected(req).is_some() || !auth.permits(req.headers()) {
            return self.handle(req, &[]).map(BodyExt::boxed_unsync);
        }
        let mut resp = Response::new(self.shared.alerts.stream_body());
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        h.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

/// A JSON error answer for a body that could not be read.
fn body_error(status: http::StatusCode, error: &str, reason: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": error, "reason": reason });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

impl AdminState for AdminView {
    fn readiness(&self) -> Readiness {
        if self.shared.draining.load(Ordering::Acquire) {
            return Readiness {
                ready: false,
                reason: "draining".into(),
            };
        }
        if let Some(Err(reason)) = self.shared.clients.fleet().map(|f| f.ready()) {
            return Readiness {
                ready: false,
                reason,
            };
        }
        Readiness {
            ready: true,
            reason: String::new(),
        }
    }

    fn metrics(&self) -> String {
        let shared = &self.shared;
        let active = shared.active();
        exposition::render(&exposition::Exposition {
            recorder: &shared.recorder,
            pools: &active.pools,
            generation: active.generation,
            inbound_connections: shared.inbound_conns.count(),
            egress_connections: shared.egress_conns.count(),
            clients: &shared.clients,
            alerts: &shared.alerts,
            started: shared.started,
        })
    }

    fn calls(&self, query: &CallQuery) -> CallPage {
        let (calls, next) = self.shared.recorder.recent().query(query);
        CallPage {
            calls: calls.iter().map(|(seq, rec)| view(*seq, rec)).collect(),
            next,
        }
    }

    fn call(&self, id: &str) -> Option<CallView> {
        let q = CallQuery {
            limit: 1000,
            ..CallQuery::default()
        };
        self.calls(&q).calls.into_iter().find(|c| c.id == id)
    }

    fn graph(&self, w: &str) -> Result<views::GraphView, String> {
        let g = self
            .shared
            .recorder
            .analysis()
            .graph_view(window(w)?, now());
        Ok(views::GraphView {
            window: w.into(),
            now: g.now,
            nodes: g
                .nodes
                .into_iter()
                .map(|n| views::GraphNode {
                    node: views::Node {
                        id: n.id,
                        kind: node_kind(n.kind),
                        label: n.label,
                        first_seen: n.first_seen,
                        last_seen: n.last_seen,
                    },
                    new: n.new,
                })
                .collect(),
            edges: g.edges.iter().map(edge_view).collect(),
            dependencies: g
                .dependencies
                .into_iter()
                .map(|d| views::Dependency {
                    service: d.dependency.service,
                    endpoint: d.dependency.endpoint,
                    to: d.dependency.to,
                    calls: d.calls,
                })
                .collect(),
            overflow: g.overflow,
        })
    }

    fn endpoints(&self, w: &str) -> Result<views::EndpointList, String> {
        let endpoints = self
            .shared
            .recorder
            .analysis()
            .endpoints_view(window(w)?, now());
        Ok(views::EndpointList {
            window: w.into(),
            endpoints: endpoints
                .into_iter()
                .map(|e| views::Endpoint {
                    node: e.node,
                    caller: e.caller,
                    shadow: e.shadow,
                    stats: stats_view(&e.stats),
                    baseline: e.baseline.map(|b| views::Baseline {
                        learning: b.learning,
                        rate_per_min: b.rate_per_min,
                        band: b.band,
                    }),
                })
                .collect(),
        })
    }

    fn graph_of(&self, w: &str, instance: Option<&str>) -> Result<views::GraphView, String> {
        let mut g = self.graph(w)?;
        if let Some(pg) = &self.shared.postgres {
            let secs = window(w)?.secs();
            let fleet = pg.view();
            crate::fleet::postgres::merge::graph(&mut g, &fleet, pg.instance(), secs, instance);
        }
        Ok(g)
    }

    fn endpoints_of(&self, w: &str, instance: Option<&str>) -> Result<views::EndpointList, String> {
        let mut list = self.endpoints(w)?;
        if let Some(pg) = &self.shared.postgres {
            let secs = window(w)?.secs();
            let fleet = pg.view();
            crate::fleet::postgres::merge::endpoints(
                &mut list,
                &fleet,
                pg.instance(),
                secs,
                instance,
            );
        }
        Ok(list)
    }

    fn anomalies(&self) -> views::FindingList {
        let analysis = self.shared.recorder.analysis();
        views::FindingList {
            anomalies: analysis.findings().map(finding_view).collect(),
        }
    }

    fn node(&self, id: &str, w: &str) -> Result<Option<views::NodeDetail>, String> {
        let w = window(w)?;
        let analysis = self.shared.recorder.analysis();
        let Some(n) = analysis.graph().node_by_id(id) else {
            return Ok(None);
        };
        let edges = analysis
            .graph()
            .edges(w, now())
            .iter()
            .filter(|e| e.from == id || e.to == id)
            .map(edge_view)
            .collect();
        let findings = analysis
            .findings()
            .filter(|f| f.subject.split_whitespace().any(|t| t == id))
            .take(50)
            .map(finding_view)
            .collect();
        Ok(Some(views::NodeDetail {
            node: views::Node {
                id: n.id.to_string(),
                kind: node_kind(n.kind),
                label: n.label.to_string(),
                first_seen: n.first_seen,
                last_seen: n.last_seen,
            },
            edges,
            findings,
        }))
    }

    fn clients(&self, limit: usize) -> ClientList {
        let clients = self.shared.clients.client_views(limit);
        let active = self.shared.active();
        let egress = active.config.egress.as_ref();
        let lists = self.shared.clients.lists();
        let address = |c: &crate::clients::ClientView| {
            (c.kind == "address")
                .then(|| c.id.parse::<std::net::IpAddr>().ok())
                .flatten()
        };
        ClientList {
            clients: clients
                .into_iter()
                .map(|c| views::ClientView {
                    service: egress.and_then(|e| match address(&c) {
                        Some(ip) => source_service(&e.sources, ip),
                        None if c.kind == "certificate" => e.identities.get(&c.id).cloned(),
                        None => None,
                    }),
                    allow_listed: address(&c).is_some_and(|ip| lists.allow.contains(ip)),
                    id: c.id,
                    kind: c.kind.into(),
                    requests: c.requests,
                    limited: c.limited,
                    blocked: c.blocked,
                    errors_4xx: c.errors_4xx,
                    last_seen: c.last_seen,
                    banned_until: c.banned_until,
                })
                .collect(),
        }
    }

    fn bans(&self) -> BanList {
        BanList {
            bans: self
                .shared
                .clients
                .bans()
                .into_iter()
                .map(|b| views::BanView {
                    client: b.client,
                    reason: b.reason,
                    since: b.since,
                    until: b.until,
                    strikes: b.strikes,
                })
                .collect(),
        }
    }

    fn lift_ban(&self, client: &str) -> Option<BanLifted> {
        self.shared.clients.lift(client).then(|| {
            tracing::info!(client = %client, "ban lifted through the admin API");
            BanLifted {
                client: client.into(),
                lifted: true,
            }
        })
    }

    fn history(&self, q: &HistoryQuery) -> Option<History> {
        let analysis = self.shared.recorder.analysis();
        let minutes = analysis.graph().history(now(), |f, t| {
            q.node.as_deref().is_none_or(|n| f == n || t == n)
                && q.from.as_deref().is_none_or(|x| f == x)
                && q.to.as_deref().is_none_or(|x| t == x)
        })?;
        Some(History {
            minutes: minutes
                .into_iter()
                .map(|m| views::Minute {
                    at: m.at,
                    count: m.count,
                    errors: m.errors,
                    blocked: m.blocked,
                    p90_ms: m.p90_ms,
                })
                .collect(),
        })
    }

    fn policy(&self) -> views::PolicyView {
        policy::view(&self.shared)
    }

    fn alerts(&self, f: &AlertFilter) -> Result<AlertList, String> {
        use crate::alerts::model::{Kind, Severity, State};
        let q = crate::alerts::AlertQuery {
            state: f
                .state
                .as_deref()
                .map(|s| State::parse(s).ok_or(format!("state: unknown value {s:?}")))
                .transpose()?,
            kind: f
                .kind
                .as_deref()
                .map(|k| Kind::parse(k).ok_or(format!("kind: unknown value {k:?}")))
                .transpose()?,
            severity: f
                .severity
                .as_deref()
                .map(|s| Severity::parse(s).ok_or(format!("severity: unknown value {s:?}")))
                .transpose()?,
            limit: f.limit,
        };
        let (alerts, incidents) = self.shared.alerts.list_with(&q, alert_view, incident_view);
        Ok(AlertList { alerts, incidents })
    }

    fn alert_action(&self, id: u64, action: AlertAction) -> Option<AlertView> {
        match action {
            AlertAction::Acknowledge => self.shared.alerts.acknowledge_with(id, alert_view),
            AlertAction::Resolve => self.shared.alerts.resolve_with(id, alert_view),
            AlertAction::Reopen => self.shared.alerts.reopen_with(id, alert_view),
        }
    }

    fn status(&self) -> StatusView {
        let active = self.shared.active();
        let reload = self.shared.reload_status();
        let services = active
            .pools
            .iter()
            .map(|(name, pool)| views::ServiceStatus {
                name: name.clone(),
                upstreams: active
                    .config
                    .services
                    .get(name)
                    .map(|s| s.upstreams.clone())
                    .unwrap_or_default(),
                healthy_upstreams: pool.healthy() as u64,
            })
            .collect();
        StatusView {
            version: env!("CARGO_PKG_VERSION").into(),
            started: rfc3339(self.shared.started),
            config: views::ConfigStatus {
                file: self
                    .shared
                    .config_path
                    .as_ref()
                    .map(|p| p.display().to_string()),
                generation: active.generation,
                last_reload: reload.at.map(rfc3339),
                last_reload_ok: reload.at.map(|_| reload.ok),
                last_reload_error: reload.error,
            },
            listeners: views::Listeners {
                inbound: self.shared.listeners.first().map(ToString::to_string),
                inbound_tls: active.config.inbound.tls.is_some(),
                admin: self.shared.listeners.get(1).map(ToString::to_string),
                egress: self.shared.listeners.get(2).map(ToString::to_string),
            },
            services,
            fleet: self.fleet_status(),
        }
    }
}

/// This instance's place in its fleet: the shared store's state and the instances' heartbeats.
impl AdminView {
    /// The fleet this instance belongs to: its shared store and instances (PostgreSQL) and
    /// the state of its shared protections' back-end (Redis).
    fn fleet_status(&self) -> Option<views::FleetStatus> {
        let active = self.shared.active();
        let cfg = active.config.fleet.as_ref()?;
        let mut status = match &self.shared.postgres {
            Some(pg) => postgres_status(pg, self.shared.recorder.store()),
            None => views::FleetStatus {
                instance: cfg.instance.clone(),
                backends: Vec::new(),
                postgres: None,
                instances: Vec::new(),
            },
        };
        if let Some(f) = self.shared.clients.fleet() {
            status.backends.push(f.status());
        }
        Some(status)
    }
}

fn postgres_status(
    pg: &crate::fleet::postgres::Postgres,
    store: Option<&crate::store::Store>,
) -> views::FleetStatus {
    let health = pg.health();
    let count = |f: fn(&crate::store::StoreStats) -> &std::sync::atomic::AtomicU64| {
        store.map_or(0, |s| f(&s.stats).load(Ordering::Relaxed))
    };
    views::FleetStatus {
        instance: pg.instance().to_owned(),
        backends: Vec::new(),
        postgres: Some(views::BackendStatus {
            state: health.state.into(),
            error: health.error,
            pending: count(|s| &s.pending),
            dropped: count(|s| &s.dropped),
        }),
        instances: pg
            .view()
            .instances
            .iter()
            .map(|i| views::InstanceStatus {
                instance: i.name.clone(),
                version: i.version.clone(),
                admin: i.admin.clone(),
                last_heartbeat: rfc3339(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(i.last_heartbeat),
                ),
                alive: i.alive,
            })
            .collect(),
    }
}

/// The service whose egress source network (the most specific one) holds `ip`.
fn source_service(sources: &[(ipnet::IpNet, String)], ip: std::net::IpAddr) -> Option<String> {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    sources
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|(_, name)| name.clone())
}

/// An alert as the API, the alert stream and the sinks show it.
pub fn alert_view(a: &crate::alerts::model::Alert) -> AlertView {
    use crate::alerts::model::Severity;
    AlertView {
        id: a.id,
        kind: a.kind.as_str().into(),
        severity: match a.severity {
            Severity::Info => views::Severity::Info,
            Severity::Low => views::Severity::Low,
            Severity::Medium => views::Severity::Medium,
            Severity::High => views::Severity::High,
            Severity::Critical => views::Severity::Critical,
        },
        state: state_view(a.state),
        subject: a.subject.clone(),
        summary: a.summary.clone(),
        count: a.count,
        first_seen: rfc3339(clock::from_millis(a.first_seen)),
        last_seen: rfc3339(clock::from_millis(a.last_seen)),
        evidence: a.evidence.clone(),
        snoozed_until: a
            .snoozed_until
            .filter(|_| a.state == crate::alerts::model::State::Resolved)
            .map(|t| rfc3339(clock::from_millis(t))),
        incident: a.incident,
        nodes: a.nodes.clone(),
        delivery: a
            .delivery
            .iter()
            .map(|(name, d)| {
                let status = match d.status() {
                    "delivered" => views::DeliveryStatus::Delivered,
                    "failed" => views::DeliveryStatus::Failed,
                    _ => views::DeliveryStatus::Pending,
                };
                (name.clone(), status)
            })
            .collect(),
    }
}

pub(crate) fn node_kind(k: crate::analysis::graph::NodeKind) -> views::NodeKind {
    k.view()
}

fn stats_view(s: &crate::analysis::graph::EndpointStats) -> views::EndpointStats {
    views::EndpointStats {
        method: s.method.clone(),
        template: s.template.clone(),
        count: s.count,
        rate: s.rate,
        ratio_4xx: s.ratio_4xx,
        ratio_5xx: s.ratio_5xx,
        latency_ms: views::Quantiles {
            p50: s.latency_ms.p50,
            p90: s.latency_ms.p90,
            p99: s.latency_ms.p99,
        },
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        blocked: s.blocked,
        reported: s.reported,
        first_seen: s.first_seen,
        last_seen: s.last_seen,
    }
}

fn edge_view(e: &crate::analysis::graph::EdgeView) -> views::Edge {
    views::Edge {
        from: e.from.clone(),
        to: e.to.clone(),
        first_seen: e.first_seen,
        last_seen: e.last_seen,
        total: stats_view(&e.total),
        endpoints: e.endpoints.iter().map(stats_view).collect(),
    }
}

fn finding_view(f: &crate::analysis::engine::Finding) -> views::Finding {
    views::Finding {
        id: f.id,
        kind: f.kind.clone(),
        subject: f.subject.clone(),
        at: f.at,
        evidence: f.evidence.clone(),
    }
}

/// An incident as the API shows it.
pub fn incident_view(i: &crate::alerts::model::Incident) -> IncidentView {
    IncidentView {
        id: i.id,
        root: i.root.clone(),
        state: state_view(i.state),
        alerts: i.alerts.clone(),
        first_seen: rfc3339(clock::from_millis(i.first_seen)),
        last_seen: rfc3339(clock::from_millis(i.last_seen)),
    }
}

fn state_view(s: crate::alerts::model::State) -> views::AlertState {
    use crate::alerts::model::State;
    match s {
        State::Open => views::AlertState::Open,
        State::Acknowledged => views::AlertState::Acknowledged,
        State::Resolved => views::AlertState::Resolved,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn window(w: &str) -> Result<Window, String> {
    Window::parse(w).ok_or_else(|| format!("unknown window {w:?}; use 1m, 5m, 1h or 24h"))
}

#[cfg(test)]
mod tests;
