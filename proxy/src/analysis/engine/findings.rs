//! Findings: what the analysis reports (first sightings, departures from the baseline), their
//! ids and the bounded list kept for the API.

use super::{Analysis, MAX_ANOMALIES};
use crate::analysis::graph::NewEntity;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

/// Something the analysis reports: a first sighting or a departure from the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Increasing id.
    pub id: u64,
    /// `new_node`, `new_edge`, `new_endpoint` or an anomaly kind (`rate_spike`, …).
    pub kind: String,
    /// What it is about: a node id, `from -> to`, or `from -> to METHOD template`.
    pub subject: String,
    /// Unix seconds.
    pub at: u64,
    /// For first sightings: the new entity; for anomalies: observed, expected, band, window.
    pub evidence: serde_json::Value,
}

impl Analysis {
    /// Closes every step before the one `now` falls in, feeding the baselines; call it on a
    /// timer too, so an endpoint falling silent is noticed without traffic.
    pub fn advance_to(&mut self, now: SystemTime) -> Vec<Finding> {
        let ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.advance_to_ms(ms)
    }

    pub(super) fn advance_to_ms(&mut self, unix_ms: u64) -> Vec<Finding> {
        let step = self.watches.step_of(unix_ms);
        let fired = self.watches.advance(step);
        let fired = self.fleet_anomalies(fired);
        let mut found = Vec::with_capacity(fired.len());
        for (subject, a) in fired {
            let evidence = serde_json::json!({
                "signal": a.signal,
                "observed": a.observed,
                "expected": a.expected,
                "band": [a.band.0, a.band.1],
                "score": a.score,
                "window_minutes": a.window_minutes,
                "step_seconds": self.watches.step().as_secs_f64(),
            });
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "anomaly".into());
            let at = self.watches.step_start_secs(a.minute);
            found.push(self.push(kind, subject, at, evidence));
        }
        found
    }

    pub(super) fn sighting(&mut self, new: NewEntity, at: u64) -> Finding {
        let (kind, subject) = match &new {
            NewEntity::Node { id, .. } => ("new_node", id.clone()),
            NewEntity::Edge { from, to } => ("new_edge", format!("{from} -> {to}")),
            NewEntity::Endpoint {
                node,
                method,
                template,
            } => ("new_endpoint", format!("{node} {method} {template}")),
        };
        // The node whose inventory this extends (an edge belongs to its caller) still learns
        // while it is younger than the baselines' learning period.
        let owner = match &new {
            NewEntity::Node { id, .. } => id,
            NewEntity::Edge { from, .. } => from,
            NewEntity::Endpoint { node, .. } => node,
        };
        let learning = self
            .graph
            .node_by_id(owner)
            .is_none_or(|n| at.saturating_sub(n.first_seen) < self.watches.learning().as_secs());
        let mut evidence = serde_json::to_value(&new).unwrap_or_default();
        if let Some(o) = evidence.as_object_mut() {
            o.insert("owner".into(), owner.as_str().into());
            o.insert("learning".into(), learning.into());
        }
        self.push(kind.to_owned(), subject, at, evidence)
    }

    pub(super) fn push(
        &mut self,
        kind: String,
        subject: String,
        at: u64,
        evidence: serde_json::Value,
    ) -> Finding {
        let f = Finding {
            id: self.next_id,
            kind,
            subject,
            at,
            evidence,
        };
        self.next_id += 1;
        if self.findings.len() == MAX_ANOMALIES {
            self.findings.pop_front();
        }
        self.findings.push_back(f.clone());
        f
    }

    /// The findings, newest first.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().rev()
    }
}
