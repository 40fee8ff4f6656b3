//! The proxy's side of the admin surface: what the dashboard crate may read.

mod api;
mod calls;
pub mod exposition;
mod policy;
mod protections;
mod views;

pub use views::{alert_view, incident_view};

pub use crate::record::view;
use crate::state::Shared;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use sightline_dashboard::AdminAuth;
use std::sync::Arc;

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

#[cfg(test)]
mod tests;
