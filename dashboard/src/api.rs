//! Routing of admin requests to health checks, metrics, the JSON API and the UI assets.

mod alerts;
mod query;

use crate::{assets, AdminAuth, AdminState};
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

/// Answers one admin request. Never panics; unknown paths get a JSON 404.
pub fn handle<B>(
    req: &Request<B>,
    state: &dyn AdminState,
    auth: &AdminAuth,
) -> Response<Full<Bytes>> {
    handle_with_body(req, &[], state, auth)
}

/// [`handle`] for a request whose body was read (state changes are POSTs with a JSON body).
pub fn handle_with_body<B>(
    req: &Request<B>,
    body: &[u8],
    state: &dyn AdminState,
    auth: &AdminAuth,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let open = matches!(path, "/healthz" | "/readyz");
    if !open && !auth.permits(req.headers()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a bearer token is required",
        );
    }
    if let Some(resp) = alerts::route(req, state) {
        return resp;
    }
    if req.method() == Method::POST {
        return post(req, path, body, state);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path accepts GET only",
        );
    }
    match path {
        "/healthz" => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        "/readyz" => {
            let r = state.readiness();
            let code = if r.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(code, &r)
        }
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics(),
        ),
        "/api/calls" => match query::call_query(req.uri().query().unwrap_or("")) {
            Ok(q) => json(StatusCode::OK, &state.calls(&q)),
            Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
        },
        "/api/status" => json(StatusCode::OK, &state.status()),
        "/api/graph" | "/api/endpoints" => {
            let window = match query::window(req.uri().query().unwrap_or("")) {
                Ok(w) => w,
                Err(reason) => return error(StatusCode::BAD_REQUEST, "bad_query", &reason),
            };
            let result = if path == "/api/graph" {
                state.graph(&window)
            } else {
                state.endpoints(&window)
            };
            match result {
                Ok(v) => json(StatusCode::OK, &v),
                Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
            }
        }
        "/api/anomalies" => json(StatusCode::OK, &state.anomalies()),
        "/api/clients" => match query::limit(req.uri().query().unwrap_or("")) {
            Ok(limit) => json(StatusCode::OK, &state.clients(limit)),
            Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
        },
        "/api/bans" => json(StatusCode::OK, &state.bans()),
        p if p.starts_with("/api/nodes/") => {
            let raw = &p["/api/nodes/".len()..];
            let Some(id) = query::decode(raw) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_path",
                    "bad percent-encoding in node id",
                );
            };
            let window =
                query::window(req.uri().query().unwrap_or("")).unwrap_or_else(|_| "5m".into());
            match state.node(&id, &window) {
                Ok(Some(v)) => json(StatusCode::OK, &v),
                Ok(None) => error(StatusCode::NOT_FOUND, "not_found", "no such node"),
                Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
            }
        }
        _ => match assets::find(path) {
            Some(asset) => assets::serve(asset),
            None => error(StatusCode::NOT_FOUND, "not_found", "no such admin path"),
        },
    }
}

/// State changes. A JSON content type is required, so a cross-site form cannot send one.
fn post<B>(
    req: &Request<B>,
    path: &str,
    body: &[u8],
    state: &dyn AdminState,
) -> Response<Full<Bytes>> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    match path {
        "/api/bans/lift" => {
            if !is_json {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "bad_content_type",
                    "send the body as application/json",
                );
            }
            #[derive(serde::Deserialize)]
            struct Lift {
                client: String,
            }
            match serde_json::from_slice::<Lift>(body) {
                Ok(l) => match state.lift_ban(&l.client) {
                    Some(v) => json(StatusCode::OK, &v),
                    None => error(StatusCode::NOT_FOUND, "not_found", "that client has no ban"),
                },
                Err(_) => error(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    "expected {\"client\": \"<id>\"}",
                ),
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path accepts GET only",
        ),
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            format!("{{\"error\":\"internal\",\"reason\":{:?}}}", e.to_string()),
        ),
    }
}

pub(crate) fn error(status: StatusCode, error: &str, reason: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &serde_json::json!({ "error": error, "reason": reason }),
    )
}

#[cfg(test)]
mod tests;
