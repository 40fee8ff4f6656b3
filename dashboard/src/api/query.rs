//! The `GET /api/calls` query string.

use crate::views::{HistoryQuery, ALERT_KINDS, WINDOWS};
use crate::CallQuery;

pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 1000;
/// The longest text `find` looks for.
const MAX_FIND: usize = 200;

/// Parses `service=…&status=5xx&decision=…&direction=…&before=…&limit=…`.
pub(crate) fn call_query(raw: &str) -> Result<CallQuery, String> {
    let mut q = CallQuery {
        limit: DEFAULT_LIMIT,
        ..CallQuery::default()
    };
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| format!("{k}: bad percent-encoding"))?;
        match k {
            "service" => q.service = Some(v),
            "find" => {
                if v.len() > MAX_FIND {
                    return Err(format!("find: at most {MAX_FIND} bytes"));
                }
                q.find = (!v.is_empty()).then(|| v.to_lowercase());
            }
            "status" => {
                if !status_filter(&v) {
                    return Err(format!("status: expected 503, 5xx or error, got {v:?}"));
                }
                q.status = Some(v);
            }
            "decision" => {
                if !matches!(v.as_str(), "allowed" | "reported" | "blocked" | "limited") {
                    return Err(format!("decision: unknown value {v:?}"));
                }
                q.decision = Some(v);
            }
            "direction" => {
                if !matches!(v.as_str(), "inbound" | "egress") {
                    return Err(format!("direction: expected inbound or egress, got {v:?}"));
                }
                q.direction = Some(v);
            }
            "before" => {
                q.before = Some(
                    v.parse()
                        .map_err(|_| format!("before: not a cursor: {v:?}"))?,
                )
            }
            "since" | "until" => {
                let t: u64 = v
                    .parse()
                    .map_err(|_| format!("{k}: expected unix seconds, got {v:?}"))?;
                if k == "since" {
                    q.since = Some(t);
                } else {
                    q.until = Some(t);
                }
            }
            "trace" => {
                if v.len() != 32
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(format!(
                        "trace: expected 32 lowercase hex digits, got {v:?}"
                    ));
                }
                q.trace = Some(v);
            }
            "limit" => q.limit = parse_limit(&v)?,
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok(q)
}

/// The pattern of the `status` filter, as the OpenAPI document states it.
pub(crate) const STATUS_PATTERN: &str = "^([1-5][0-9][0-9]|[1-5]xx|error)$";

/// `error`, a status 100 to 599, or a class `1xx` to `5xx` (see [`STATUS_PATTERN`]).
fn status_filter(v: &str) -> bool {
    let b = v.as_bytes();
    v == "error"
        || (b.len() == 3
            && (b'1'..=b'5').contains(&b[0])
            && (&b[1..] == b"xx" || (b[1].is_ascii_digit() && b[2].is_ascii_digit())))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The `window` parameter (default `5m`); other parameters are refused.
pub(crate) fn window(raw: &str) -> Result<String, String> {
    let mut window = "5m".to_owned();
    for (_, v) in params(raw, &["window"])? {
        if !WINDOWS.contains(&v.as_str()) {
            return Err(format!("unknown window {v:?}; use 1m, 5m, 1h or 24h"));
        }
        window = v;
    }
    Ok(window)
}

/// The `window` and `instance` parameters of the graph and endpoint lists.
pub(crate) fn window_instance(raw: &str) -> Result<(String, Option<String>), String> {
    let mut window = "5m".to_owned();
    let mut instance = None;
    for (k, v) in params(raw, &["window", "instance"])? {
        if k == "instance" {
            instance = Some(v);
        } else if !WINDOWS.contains(&v.as_str()) {
            return Err(format!("unknown window {v:?}; use 1m, 5m, 1h or 24h"));
        } else {
            window = v;
        }
    }
    Ok((window, instance))
}

/// `node=&from=&to=` for `GET /api/history`: each one given narrows the edges summed.
pub(crate) fn history_query(raw: &str) -> Result<HistoryQuery, String> {
    let mut q = HistoryQuery::default();
    for (k, v) in params(raw, &["node", "from", "to"])? {
        match k.as_str() {
            "node" => q.node = Some(v),
            "from" => q.from = Some(v),
            _ => q.to = Some(v),
        }
    }
    Ok(q)
}

/// Percent-decodes a path segment (`+` stays a plus sign there).
pub(crate) fn decode(raw: &str) -> Option<String> {
    percent_decode(&raw.replace('+', "%2B"))
}

/// Decoded `name=value` pairs, refusing names outside `allowed`.
pub(crate) fn params(raw: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !allowed.contains(&k) {
                return Err(format!("unknown parameter {k:?}"));
            }
            let v = percent_decode(v).ok_or_else(|| format!("{k}: bad percent-encoding"))?;
            Ok((k.to_owned(), v))
        })
        .collect()
}

fn parse_limit(v: &str) -> Result<usize, String> {
    let n: usize = v
        .parse()
        .map_err(|_| format!("limit: not a number: {v:?}"))?;
    if n == 0 || n > MAX_LIMIT {
        return Err(format!("limit: must be 1 to {MAX_LIMIT}"));
    }
    Ok(n)
}

/// The `limit` parameter alone (default 100).
pub(crate) fn limit(raw: &str) -> Result<usize, String> {
    let mut limit = DEFAULT_LIMIT;
    for (_, v) in params(raw, &["limit"])? {
        limit = parse_limit(&v)?;
    }
    Ok(limit)
}

/// `state=&kind=&severity=&limit=` for `GET /api/alerts`.
pub(crate) fn alert_query(raw: &str) -> Result<crate::AlertFilter, String> {
    let mut q = crate::AlertFilter {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for (k, v) in params(raw, &["state", "kind", "severity", "limit"])? {
        match k.as_str() {
            "state" if matches!(v.as_str(), "open" | "acknowledged" | "resolved") => {
                q.state = Some(v)
            }
            "state" => {
                return Err(format!(
                    "state: expected open, acknowledged or resolved, got {v:?}"
                ))
            }
            "severity" if matches!(v.as_str(), "info" | "low" | "medium" | "high" | "critical") => {
                q.severity = Some(v)
            }
            "severity" => return Err(format!("severity: unknown value {v:?}")),
            "kind" if ALERT_KINDS.contains(&v.as_str()) => q.kind = Some(v),
            "kind" => return Err(format!("kind: unknown value {v:?}")),
            _ => q.limit = parse_limit(&v)?,
        }
    }
    Ok(q)
}
