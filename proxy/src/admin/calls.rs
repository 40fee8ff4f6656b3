//! `GET /api/calls`: the recent calls kept in memory, newest first; for a time range or a
//! trace id, the store's call log (every call kept for the retention period) when the proxy
//! has a store, else the recent calls. Either way a page is at most `limit` calls and `next`
//! pages on to older ones; a request reads at most [`MAX_SCAN`] calls of the log, then answers
//! what it found with a cursor to go on.

use crate::record::{view, Direction, KeptCall, StatusClass, UNKNOWN_SOURCE, UNROUTED};
use crate::recorder::{finds, service_selects};
use sightline_dashboard::views::{CallPage, CallView};
use sightline_dashboard::CallQuery;
use std::path::Path;

/// Calls read from the log per query.
const CHUNK: usize = 500;
/// Calls read from the log for one request, at most.
pub const MAX_SCAN: usize = 50_000;

/// Whether a query asks for a time range or a trace.
fn ranged(q: &CallQuery) -> bool {
    q.since.is_some() || q.until.is_some() || q.trace.is_some()
}

/// The page for `q`: from the store's log in `store_dir` when ranged and there is one, else
/// from the recent calls (`recent(query)` answers a page of them).
pub(super) fn page(
    q: &CallQuery,
    store_dir: Option<&Path>,
    recent: impl Fn(&CallQuery) -> (Vec<(u64, KeptCall)>, Option<u64>),
) -> CallPage {
    if !ranged(q) {
        let (calls, next) = recent(q);
        return CallPage {
            calls: calls.iter().map(|(seq, rec)| view(*seq, rec)).collect(),
            next,
        };
    }
    if let Some(dir) = store_dir {
        match from_log(&crate::store::db_file(dir), q) {
            Ok(page) => return page,
            Err(e) => tracing::debug!(error = %e, "call log unreadable; answering from memory"),
        }
    }
    // The recent calls answer the other filters themselves.
    scan(q, in_range, |before| {
        let chunk = CallQuery {
            before,
            limit: CHUNK,
            since: None,
            until: None,
            trace: None,
            ..q.clone()
        };
        let (calls, next) = recent(&chunk);
        let views = calls.iter().map(|(seq, rec)| view(*seq, rec)).collect();
        Ok((views, next))
    })
    .unwrap_or(CallPage {
        calls: Vec::new(),
        next: None,
    })
}

/// Reads chunks (`read(before)`: calls newest first and whether older ones may follow) until
/// the page is full, the log ends or [`MAX_SCAN`] calls were read.
fn scan(
    q: &CallQuery,
    keep: fn(&CallQuery, &CallView) -> bool,
    mut read: impl FnMut(Option<u64>) -> rusqlite::Result<(Vec<CallView>, Option<u64>)>,
) -> rusqlite::Result<CallPage> {
    let limit = q.limit.max(1);
    let mut out = Vec::new();
    let mut before = q.before;
    let mut scanned = 0;
    loop {
        let (chunk, more) = read(before)?;
        let last = chunk.last().map(|c| c.seq);
        for c in chunk {
            scanned += 1;
            let seq = c.seq;
            if keep(q, &c) {
                out.push(c);
                if out.len() == limit {
                    return Ok(CallPage {
                        calls: out,
                        next: Some(seq),
                    });
                }
            }
        }
        match (more, last) {
            (Some(_), Some(last)) if scanned < MAX_SCAN => before = Some(last),
            (Some(_), Some(last)) => {
                return Ok(CallPage {
                    calls: out,
                    next: Some(last),
                })
            }
            _ => {
                return Ok(CallPage {
                    calls: out,
                    next: None,
                })
            }
        }
    }
}

/// Whether a call is in the query's time range and trace.
fn in_range(q: &CallQuery, c: &CallView) -> bool {
    let started = unix_secs(&c.time);
    let within = |t: Option<u64>, after: bool| {
        t.is_none_or(|t| started.is_some_and(|s| if after { s >= t } else { s <= t }))
    };
    within(q.since, true)
        && within(q.until, false)
        && q.trace.as_deref().is_none_or(|t| c.trace_id == t)
}

/// Whether a call passes every filter of the query.
fn wanted(q: &CallQuery, c: &CallView) -> bool {
    in_range(q, c)
        && q.direction.as_deref().is_none_or(|d| c.direction == d)
        && q.decision.as_deref().is_none_or(|d| c.decision == d)
        && q.status.as_deref().is_none_or(|s| match s.parse::<u16>() {
            Ok(code) => c.status == code,
            Err(_) => StatusClass::of((c.status != 0).then_some(c.status)).as_str() == s,
        })
        && q.service.as_deref().is_none_or(|s| {
            let direction = if c.direction == "egress" {
                Direction::Egress
            } else {
                Direction::Inbound
            };
            service_selects(s, direction, c.service.as_deref())
        })
        && q.find.as_deref().is_none_or(|f| {
            let service = c.service.as_deref().unwrap_or_default();
            finds(f, &[service, &c.source, &c.destination, &c.host, &c.path])
        })
}

/// The service of a call logged before calls carried theirs: the calling service (egress) or
/// the one called (inbound), as their labels name them.
fn logged_service(c: &CallView) -> Option<String> {
    let label = if c.direction == "egress" {
        &c.source
    } else {
        &c.destination
    };
    let none = label == UNROUTED || label.starts_with(&format!("{UNKNOWN_SOURCE}:"));
    (!none).then(|| label.clone())
}

/// Unix seconds of an RFC 3339 time.
fn unix_secs(t: &str) -> Option<u64> {
    t.parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| u64::try_from(t.as_second()).ok())
}

/// The page from the store's call log.
fn from_log(file: &Path, q: &CallQuery) -> rusqlite::Result<CallPage> {
    use rusqlite::{params, Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    let mut stmt = conn.prepare(
        "SELECT seq, call FROM calls
         WHERE seq < ?1 AND at >= ?2 AND at <= ?3
           AND (?4 IS NULL OR json_extract(call, '$.trace_id') = ?4)
         ORDER BY seq DESC LIMIT ?5",
    )?;
    let since = q.since.map_or(0, |t| t.min(i64::MAX as u64) as i64);
    let until = q.until.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64);
    scan(q, wanted, |before| {
        let before = before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64);
        let rows = stmt.query_map(params![before, since, until, q.trace, CHUNK as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut calls = Vec::new();
        let mut read = 0;
        for row in rows {
            let (seq, json) = row?;
            read += 1;
            let Ok(logged) = serde_json::from_str::<serde_json::Value>(&json) else {
                continue;
            };
            let legacy = logged.get("service").is_none();
            if let Ok(mut c) = serde_json::from_value::<CallView>(logged) {
                c.seq = seq as u64;
                if legacy {
                    c.service = logged_service(&c);
                }
                calls.push(c);
            }
        }
        let more = (read == CHUNK).then_some(0);
        Ok((calls, more))
    })
}
