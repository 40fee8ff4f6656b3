//! The proxy's side of the admin surface: what the dashboard crate may read.

mod policy;
mod protections;

use crate::analysis::graph::Window;
use crate::metrics;
use crate::record::CallRecord;
use crate::runtime::Shared;
use crate::trace::hex;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use sightline_dashboard::{
    AdminAuth, AdminState, AlertFilter, CallPage, CallQuery, CallView, Readiness,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// A read-only view of the running proxy for the admin API.
#[derive(Debug)]
pub struct AdminView {
    shared: Arc<Shared>,
}

impl AdminView {
    /// A view of `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        AdminView { shared }
    }

    /// Answers one admin request (body already read) with the token of the config in force.
    pub fn handle<B>(&self, req: &Request<B>, body: &[u8]) -> Response<Full<Bytes>> {
        let auth = AdminAuth {
            token: self.shared.active().config.admin.token.clone(),
        };
        sightline_dashboard::handle(req, body, self, &auth)
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
        let (auth, read_timeout) = {
            let active = self.shared.active();
            let admin = &active.config.admin;
            let auth = AdminAuth {
                token: admin.token.clone(),
            };
            (auth, admin.read_timeout)
        };
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
        let auth = AdminAuth {
            token: self.shared.active().config.admin.token.clone(),
        };
        if !stream || !auth.permits(req.headers()) {
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
        Readiness {
            ready: true,
            reason: String::new(),
        }
    }

    fn metrics(&self) -> String {
        metrics::render(&self.shared)
    }

    fn calls(&self, query: &CallQuery) -> CallPage {
        let (calls, next) = self.shared.recorder.recent().query(query);
        CallPage {
            calls: calls.iter().map(|(seq, rec)| view(*seq, rec)).collect(),
            next,
        }
    }

    fn graph(&self, w: &str) -> Result<serde_json::Value, String> {
        let view = self
            .shared
            .recorder
            .analysis()
            .graph_view(window(w)?, now());
        serde_json::to_value(view).map_err(|e| e.to_string())
    }

    fn endpoints(&self, w: &str) -> Result<serde_json::Value, String> {
        let view = self
            .shared
            .recorder
            .analysis()
            .endpoints_view(window(w)?, now());
        Ok(serde_json::json!({ "window": w, "endpoints": view }))
    }

    fn anomalies(&self) -> serde_json::Value {
        let analysis = self.shared.recorder.analysis();
        let findings: Vec<_> = analysis.findings().collect();
        serde_json::json!({ "anomalies": findings })
    }

    fn node(&self, id: &str, w: &str) -> Result<Option<serde_json::Value>, String> {
        let w = window(w)?;
        Ok(self.shared.recorder.analysis().node_view(id, w, now()))
    }

    fn clients(&self, limit: usize) -> serde_json::Value {
        serde_json::json!({ "clients": self.shared.clients.client_views(limit) })
    }

    fn bans(&self) -> serde_json::Value {
        serde_json::json!({ "bans": self.shared.clients.bans() })
    }

    fn lift_ban(&self, client: &str) -> Option<serde_json::Value> {
        self.shared.clients.lift(client).then(|| {
            tracing::info!(client = %client, "ban lifted through the admin API");
            serde_json::json!({ "client": client, "lifted": true })
        })
    }

    fn history(&self, node: Option<&str>, edge: Option<(&str, &str)>) -> Option<serde_json::Value> {
        let analysis = self.shared.recorder.analysis();
        let minutes = match (node, edge) {
            (Some(n), _) => analysis.graph().history(now(), |f, t| f == n || t == n),
            (None, Some((from, to))) => {
                analysis.graph().history(now(), |f, t| f == from && t == to)
            }
            (None, None) => None,
        }?;
        Some(serde_json::json!({ "minutes": minutes }))
    }

    fn policy(&self) -> serde_json::Value {
        policy::view(&self.shared)
    }

    fn alerts(&self, f: &AlertFilter) -> Result<serde_json::Value, String> {
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
        Ok(self.shared.alerts.list(&q))
    }

    fn alert_action(&self, id: u64, action: &str) -> Option<serde_json::Value> {
        match action {
            "ack" => self.shared.alerts.acknowledge(id),
            "resolve" => self.shared.alerts.resolve(id),
            _ => None,
        }
    }

    fn status(&self) -> serde_json::Value {
        let active = self.shared.active();
        let reload = self.shared.reload_status();
        let services: Vec<_> = active
            .pools
            .iter()
            .map(|(name, pool)| {
                serde_json::json!({
                    "name": name,
                    "upstreams": active.config.services.get(name).map(|s| s.upstreams.clone()).unwrap_or_default(),
                    "healthy_upstreams": pool.healthy(),
                })
            })
            .collect();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "started": rfc3339(self.shared.started),
            "config": {
                "file": self.shared.config_path.as_ref().map(|p| p.display().to_string()),
                "generation": active.generation,
                "last_reload": reload.at.map(rfc3339),
                "last_reload_ok": reload.at.map(|_| reload.ok),
                "last_reload_error": reload.error,
            },
            "listeners": {
                "inbound": self.shared.listeners.first().map(ToString::to_string),
                "inbound_tls": active.config.inbound.tls.is_some(),
                "admin": self.shared.listeners.get(1).map(ToString::to_string),
                "egress": self.shared.listeners.get(2).map(ToString::to_string),
            },
            "services": services,
        })
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

pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A call as the API (and the store's call log) shows it.
pub fn view(seq: u64, r: &CallRecord) -> CallView {
    CallView {
        id: r.request_id.clone(),
        seq,
        time: rfc3339(r.start),
        direction: r.direction.as_str().into(),
        source: r.source_label(),
        source_addr: r.source_addr.to_string(),
        destination: r.destination_label(),
        upstream: r.upstream.as_deref().map(Into::into),
        inside_enclave: r.inside,
        sni: r.sni.clone(),
        method: r.method.to_string(),
        host: r.host.clone(),
        path: r.path.clone(),
        route: r.route.as_deref().unwrap_or("").into(),
        status: r.status.unwrap_or(0),
        duration_ms: r.duration.as_secs_f64() * 1e3,
        upstream_ms: r.upstream_latency.map(|d| d.as_secs_f64() * 1e3),
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        protocol: r.protocol.as_str().into(),
        tls: r.tls,
        decision: r.decision.as_str().into(),
        reason: r.reason.clone(),
        error: r.error.map(Into::into),
        trace_id: hex(&r.trace_id),
        client: r.client.client.as_deref().map(Into::into),
        protection: r.client.protection.map(Into::into),
    }
}
