//! The recent calls the API lists: a ring numbered in the order calls finished, queried newest
//! first with the API's filters and cursor. It holds what is kept of each call
//! ([`KeptCall`], packed in place), not the record itself.

use crate::record::{CallRecord, Direction, KeptCall, StatusClass, UNKNOWN_SOURCE, UNROUTED};
use sightline_dashboard::CallQuery;
use std::collections::VecDeque;
use std::sync::Mutex;

/// The most recent calls, numbered in the order they finished.
#[derive(Debug)]
pub struct RecentCalls {
    inner: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    calls: VecDeque<(u64, KeptCall)>,
    cap: usize,
    next_seq: u64,
}

impl RecentCalls {
    pub(super) fn new(cap: usize) -> Self {
        RecentCalls {
            inner: Mutex::new(Ring {
                calls: VecDeque::with_capacity(cap.min(65_536)),
                cap,
                next_seq: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps what is kept of `rec`, which started `start_nanos` after the Unix epoch (built in
    /// its place in the ring), dropping the oldest call when full.
    pub(super) fn push(&self, rec: &CallRecord, start_nanos: u64) {
        let mut ring = self.lock();
        if ring.cap == 0 {
            return;
        }
        if ring.calls.len() == ring.cap {
            ring.calls.pop_front();
        }
        let seq = ring.next_seq;
        ring.next_seq += 1;
        ring.calls
            .push_back((seq, KeptCall::dated(rec, start_nanos)));
    }

    /// Calls matching `q`, newest first, and the cursor of the next page when there may be one.
    pub fn query(&self, q: &CallQuery) -> (Vec<(u64, KeptCall)>, Option<u64>) {
        let ring = self.lock();
        let mut out = Vec::with_capacity(q.limit.min(1000));
        for (seq, rec) in ring.calls.iter().rev() {
            if q.before.is_some_and(|b| *seq >= b) || !matches(q, rec) {
                continue;
            }
            if out.len() == q.limit {
                let next = out.last().map(|(s, _): &(u64, _)| *s);
                return (out, next);
            }
            out.push((*seq, rec.clone()));
        }
        (out, None)
    }
}

/// Whether the API's `service` filter `want` selects a call of `direction` belonging to
/// `service`: the service's name exactly, or one of the metrics' labels for calls without a
/// service (`-` unrouted inbound calls, `unknown` egress calls from unidentified sources). The
/// recent calls and the store's call log both filter by this.
pub fn service_selects(want: &str, direction: Direction, service: Option<&str>) -> bool {
    match (want, direction, service) {
        (UNROUTED, Direction::Inbound, None) => true,
        (UNKNOWN_SOURCE, Direction::Egress, None) => true,
        (want, _, Some(have)) => want == have,
        _ => false,
    }
}

/// Whether any of a call's `fields` (its service, source, destination, host and path)
/// contains `find` (lowercase), in any case. The recent calls and the call log both filter by
/// this.
pub fn finds(find: &str, fields: &[&str]) -> bool {
    fields.iter().any(|f| f.to_lowercase().contains(find))
}

fn matches(q: &CallQuery, rec: &KeptCall) -> bool {
    if let Some(d) = &q.direction {
        if d != rec.direction().as_str() {
            return false;
        }
    }
    if let Some(s) = &q.service {
        if !service_selects(s, rec.direction(), rec.service()) {
            return false;
        }
    }
    if let Some(f) = &q.find {
        let fields = [
            rec.service().unwrap_or_default(),
            &rec.source_label(),
            &rec.destination_label(),
            rec.host(),
            rec.path(),
        ];
        if !finds(f, &fields) {
            return false;
        }
    }
    if let Some(d) = &q.decision {
        if d != rec.decision().as_str() {
            return false;
        }
    }
    if let Some(s) = &q.status {
        let ok = match s.parse::<u16>() {
            Ok(code) => rec.status() == Some(code),
            Err(_) => StatusClass::of(rec.status()).as_str() == s,
        };
        if !ok {
            return false;
        }
    }
    true
}
