//! Routing of admin requests to health checks, metrics, the JSON API and the UI assets.

mod graph;
pub(crate) mod query;
mod routes;

use crate::auth::{self, Credential};
use crate::{assets, openapi, views, AdminAuth, AdminState, AlertAction, SilenceRequest};
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use routes::{Found, Op};
use serde::Serialize;

/// The largest request body the admin API reads (login and ban-lift bodies are tiny).
pub const MAX_BODY: usize = 16 * 1024;

/// Answers one admin request whose body (at most [`MAX_BODY`] bytes) is `body`. Never panics;
/// unknown paths get a JSON 404.
pub fn handle<B>(
    req: &Request<B>,
    body: &[u8],
    state: &dyn AdminState,
    auth: &AdminAuth,
) -> Response<Full<Bytes>> {
    let (op, param) = match admit(req, auth) {
        Admission::Pass(op, param) => (op, param),
        Admission::Decided(refused) => return refused,
    };
    if matches!(op, Op::Logout) {
        auth.end_sessions(req.headers());
    }
    let raw_query = req.uri().query().unwrap_or("");
    serve(op, param.as_deref(), raw_query, body, state, auth)
        .unwrap_or_else(|r| error(r.status, r.error, &r.reason))
}

/// The answer to a request refused on its head alone (unknown path, wrong method, missing
/// credentials, cross-site POST), if it is. The caller reads a request's body only when this
/// is `None`, so no one without the token can make the server wait for, or buffer, a body.
pub fn refuse_before_body<B>(req: &Request<B>, auth: &AdminAuth) -> Option<Response<Full<Bytes>>> {
    match admit(req, auth) {
        Admission::Pass(..) => None,
        Admission::Decided(refused) => Some(refused),
    }
}

/// What the head of a request decides.
enum Admission {
    /// A route the request may use, with its raw parameter.
    Pass(Op, Option<String>),
    /// The answer, decided on the head alone: a refusal, or a static file.
    Decided(Response<Full<Bytes>>),
}

/// Routing, authentication and the cross-site check: everything decided from the head.
fn admit<B>(req: &Request<B>, auth: &AdminAuth) -> Admission {
    if let Some(reason) = auth.misdirected(req) {
        return Admission::Decided(error(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected_request",
            reason,
        ));
    }
    let path = req.uri().path();
    let (op, param) = match routes::find(req.method(), path) {
        Found::Route(op, param) => (op, param),
        Found::WrongMethod(allowed) => {
            let mut resp = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                &format!("this path accepts {allowed} only"),
            );
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allowed));
            return Admission::Decided(resp);
        }
        Found::None => {
            return Admission::Decided(match (req.method(), assets::find(path)) {
                (&Method::GET | &Method::HEAD, Some(asset)) => assets::serve(asset),
                (_, Some(_)) => {
                    let mut resp = error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        "this path accepts GET and HEAD only",
                    );
                    resp.headers_mut()
                        .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
                    resp
                }
                (_, None) => error(StatusCode::NOT_FOUND, "not_found", "no such admin path"),
            });
        }
    };
    let open = matches!(op, Op::Healthz | Op::Readyz | Op::Login | Op::Logout);
    let credential = auth.credential(req.headers());
    if !open && credential.is_none() {
        return Admission::Decided(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a bearer token or a dashboard login is required",
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if let Some(reason) =
            auth::cross_site(req.headers(), credential.unwrap_or(Credential::Cookie))
        {
            return Admission::Decided(error(StatusCode::FORBIDDEN, "cross_site", reason));
        }
    }
    Admission::Pass(op, param)
}

/// Why a request gets an error answer.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            error,
            reason: reason.into(),
        }
    }
}

type Answer = Result<Response<Full<Bytes>>, Refusal>;

fn serve(
    op: Op,
    param: Option<&str>,
    raw_query: &str,
    body: &[u8],
    state: &dyn AdminState,
    auth: &AdminAuth,
) -> Answer {
    let bad = |reason: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_query", reason);
    let param = match param.map(query::decode) {
        Some(None) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad_path",
                "bad percent-encoding in the path",
            ))
        }
        Some(Some(p)) => p,
        None => String::new(),
    };
    Ok(match op {
        Op::Healthz => json(
            StatusCode::OK,
            &views::Health {
                status: "ok".into(),
            },
        ),
        Op::Readyz => {
            let r = state.readiness();
            let code = if r.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(code, &r)
        }
        Op::Metrics => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics(),
        ),
        Op::OpenApi => json(StatusCode::OK, &openapi::document()),
        Op::Status => json(StatusCode::OK, &state.status()),
        Op::Calls => {
            let q = query::call_query(raw_query).map_err(bad)?;
            json(StatusCode::OK, &state.calls(&q))
        }
        Op::Call => {
            query::params(raw_query, &[]).map_err(bad)?;
            match state.call(&param) {
                Some(c) => json(StatusCode::OK, &c),
                None => not_found("no such call among the recent ones"),
            }
        }
        Op::Graph => {
            let (window, instance) = query::window_instance(raw_query).map_err(bad)?;
            let g = state.graph_of(&window, instance.as_deref()).map_err(bad)?;
            json(StatusCode::OK, &graph::with_layout(g))
        }
        Op::Endpoints => {
            let (window, instance) = query::window_instance(raw_query).map_err(bad)?;
            let e = state.endpoints_of(&window, instance.as_deref());
            json(StatusCode::OK, &e.map_err(bad)?)
        }
        Op::Anomalies => json(StatusCode::OK, &state.anomalies()),
        Op::Node => {
            let window = query::window(raw_query).map_err(bad)?;
            match state.node(&param, &window).map_err(bad)? {
                Some(v) => json(StatusCode::OK, &v),
                None => not_found("no such node"),
            }
        }
        Op::History => {
            let q = query::history_query(raw_query).map_err(bad)?;
            match state.history(&q) {
                Some(v) => json(StatusCode::OK, &v),
                None => not_found("no such node or edge"),
            }
        }
        Op::Alerts => {
            let filter = query::alert_query(raw_query).map_err(bad)?;
            json(StatusCode::OK, &state.alerts(&filter).map_err(bad)?)
        }
        // The proxy streams this path itself; a host that cannot stream tells the browser to
        // come back later, and the dashboard falls back to polling `/api/alerts`.
        Op::AlertStream => respond(StatusCode::OK, "text/event-stream", "retry: 10000\n\n"),
        Op::AlertAck | Op::AlertResolve | Op::AlertReopen => {
            let action = match op {
                Op::AlertAck => AlertAction::Acknowledge,
                Op::AlertResolve => AlertAction::Resolve,
                _ => AlertAction::Reopen,
            };
            let id: u64 = param.parse().map_err(|_| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "bad_path",
                    "an alert id is a number",
                )
            })?;
            match state.alert_action(id, action) {
                Some(v) => json(StatusCode::OK, &v),
                None => not_found("no such alert"),
            }
        }
        Op::Silences => {
            query::params(raw_query, &[]).map_err(bad)?;
            json(StatusCode::OK, &state.silences())
        }
        Op::AddSilence => {
            let request = silence_request(body)?;
            let v = state
                .add_silence(&request)
                .map_err(|reason| Refusal::new(StatusCode::BAD_REQUEST, "bad_body", reason))?;
            json(StatusCode::CREATED, &v)
        }
        Op::DeleteSilence => {
            let id: u64 = param.parse().map_err(|_| {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "bad_path",
                    "a silence id is a number",
                )
            })?;
            match state.delete_silence(id) {
                Some(v) => json(StatusCode::OK, &v),
                None => not_found("no such silence"),
            }
        }
        Op::Clients => {
            let limit = query::limit(raw_query).map_err(bad)?;
            json(StatusCode::OK, &state.clients(limit))
        }
        Op::Bans => json(StatusCode::OK, &state.bans()),
        Op::LiftBan => {
            let client = body_field(body, "client")?;
            match state.lift_ban(&client) {
                Some(v) => json(StatusCode::OK, &v),
                None => not_found("that client is not banned"),
            }
        }
        Op::Policy => json(StatusCode::OK, &state.policy()),
        Op::Login => {
            let token = body_field(body, "token")?;
            if !auth.token_matches(&token) {
                return Err(Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "wrong token",
                ));
            }
            let mut resp = json(
                StatusCode::OK,
                &views::LoggedIn {
                    ok: true,
                    token_required: auth.token.is_some(),
                },
            );
            if let Some(cookie) = auth.login_cookie() {
                resp.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            resp
        }
        Op::Logout => {
            let mut resp = json(StatusCode::OK, &views::LoggedOut { ok: true });
            resp.headers_mut()
                .insert(header::SET_COOKIE, auth.clear_cookie());
            resp
        }
    })
}

/// The body of `POST /api/silences`: `kind` and `reason`, `duration` or `until`, and an
/// optional `subject`, each a string.
fn silence_request(body: &[u8]) -> Result<SilenceRequest, Refusal> {
    let bad = |reason: String| Refusal::new(StatusCode::BAD_REQUEST, "bad_body", reason);
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("expected a JSON object: {e}")))?;
    let Some(o) = v.as_object() else {
        return Err(bad("expected a JSON object".into()));
    };
    let known = ["kind", "subject", "duration", "until", "reason"];
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field {k:?}; expected {}",
            known.join(", ")
        )));
    }
    let text = |name: &str| -> Result<Option<String>, Refusal> {
        match o.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => {
                Err(bad(format!("{name}: must not be empty")))
            }
            Some(serde_json::Value::String(s)) if s.chars().count() > MAX_SILENCE_TEXT => Err(bad(
                format!("{name}: at most {MAX_SILENCE_TEXT} characters"),
            )),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("{name}: expected a string"))),
        }
    };
    let kind = text("kind")?.ok_or_else(|| bad("kind: required".into()))?;
    let reason = text("reason")?.ok_or_else(|| bad("reason: required".into()))?;
    let (duration, until) = (text("duration")?, text("until")?);
    if duration.is_some() == until.is_some() {
        return Err(bad("give exactly one of duration and until".into()));
    }
    Ok(SilenceRequest {
        kind,
        subject: text("subject")?,
        duration,
        until,
        reason,
    })
}

/// The longest text field of a silence.
const MAX_SILENCE_TEXT: usize = 1_000;

/// A string field of a JSON object body.
fn body_field(body: &[u8], name: &str) -> Result<String, Refusal> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("expected a JSON object: {e}"),
        )
    })?;
    match v.get(name).and_then(|f| f.as_str()) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("expected a non-empty string field {name:?}"),
        )),
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

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            format!("{{\"error\":\"internal\",\"reason\":{:?}}}", e.to_string()),
        ),
    }
}

fn not_found(reason: &str) -> Response<Full<Bytes>> {
    error(StatusCode::NOT_FOUND, "not_found", reason)
}

fn error(status: StatusCode, error: &str, reason: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &views::ErrorBody {
            error: error.into(),
            reason: reason.into(),
        },
    )
}

#[cfg(test)]
mod tests;
