//! `GET /api/alerts` with its filters, and the POST-only acknowledge and resolve actions.

use super::{error, json, query};
use crate::{AdminState, AlertFilter};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;

const MAX_LIMIT: usize = 1000;

/// Answers the alert paths; `None` for any other path.
pub(super) fn route<B>(req: &Request<B>, state: &dyn AdminState) -> Option<Response<Full<Bytes>>> {
    let path = req.uri().path();
    if path == "/api/alerts" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Some(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path accepts GET only",
            ));
        }
        return Some(match filter(req.uri().query().unwrap_or("")) {
            Ok(f) => match state.alerts(&f) {
                Ok(v) => json(StatusCode::OK, &v),
                Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
            },
            Err(reason) => error(StatusCode::BAD_REQUEST, "bad_query", &reason),
        });
    }
    let rest = path.strip_prefix("/api/alerts/")?;
    let (id, action) = rest.split_once('/')?;
    if !matches!(action, "ack" | "resolve") {
        return None;
    }
    if req.method() != Method::POST {
        return Some(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "acknowledge and resolve are POST only",
        ));
    }
    if cross_origin(req) {
        return Some(error(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "state changes are accepted only from the admin's own origin",
        ));
    }
    let Ok(id) = id.parse::<u64>() else {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "an alert id is a number",
        ));
    };
    Some(match state.alert_action(id, action) {
        Some(v) => json(StatusCode::OK, &v),
        None => error(StatusCode::NOT_FOUND, "not_found", "no such alert"),
    })
}

/// A browser POST from another site (a page cannot set `Origin`): without a token, a page
/// the operator visits could otherwise resolve alerts on the loopback admin listener.
fn cross_origin<B>(req: &Request<B>) -> bool {
    let Some(origin) = req.headers().get(http::header::ORIGIN) else {
        return false;
    };
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    host.is_empty() || origin_host != host
}

/// Parses `state=…&kind=…&severity=…&limit=…`.
pub(super) fn filter(raw: &str) -> Result<AlertFilter, String> {
    let mut f = AlertFilter {
        limit: 100,
        ..AlertFilter::default()
    };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = query::decode(v).ok_or_else(|| format!("{k}: bad percent-encoding"))?;
        match k {
            "state" => f.state = Some(v),
            "kind" => f.kind = Some(v),
            "severity" => f.severity = Some(v),
            "limit" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("limit: not a number: {v:?}"))?;
                if n == 0 || n > MAX_LIMIT {
                    return Err(format!("limit: must be 1 to {MAX_LIMIT}"));
                }
                f.limit = n;
            }
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok(f)
}
