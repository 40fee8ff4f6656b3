//! Findings: what the analysis reports (first sightings, departures from the baseline), their
//! ids and the bounded list kept for the API.

use super::{Analysis, MAX_ANOMALIES};
use crate::analysis::graph::NewEntity;
use crate::analysis::watch::{Fired, Watches};
use serde::Serialize;
use std::sync::Arc;
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
    /// For first sightings: the new entity; for anomalies: observed, expected, band, window,
    /// `incident` (the incident's root finding id), `root` and maybe `callers`.
    pub evidence: serde_json::Value,
}

/// Steps after an incident's last finding during which a related finding still joins it.
pub const INCIDENT_STEPS: u64 = 30;

/// Incidents under way remembered at once (the oldest is closed first).
const MAX_OPEN_INCIDENTS: usize = 64;

/// Nodes remembered per incident.
const MAX_INCIDENT_NODES: usize = 64;

/// A statistical incident under way: findings on related nodes close in time.
#[derive(Debug)]
pub(super) struct OpenIncident {
    /// The root finding's id.
    id: u64,
    /// The nodes of its findings' endpoints.
    nodes: Vec<Arc<str>>,
    /// The step of its latest finding.
    last_minute: u64,
}

/// Orders the findings of one step so that the one whose endpoint is called by another's node
/// comes after it: the incident's root is where it started, upstream.
fn upstream_first(watches: &Watches, mut fired: Vec<Fired>) -> Vec<Fired> {
    let mut ordered = Vec::with_capacity(fired.len());
    while !fired.is_empty() {
        let first = (0..fired.len())
            .find(|&i| {
                let earliest = fired.iter().map(|f| f.anomaly.minute).min().unwrap_or(0);
                fired[i].anomaly.minute == earliest
                    && !fired.iter().enumerate().any(|(j, g)| {
                        j != i
                            && g.anomaly.minute == earliest
                            && g.to != fired[i].to
                            && watches.has_edge(&g.to, &fired[i].to)
                    })
            })
            .unwrap_or(0);
        ordered.push(fired.remove(first));
    }
    ordered
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
        // Nearly every call falls in the step under way: nothing closes, and without a fleet
        // there is nothing to take either.
        if self.fleet.is_none() && !self.watches.closes(step) {
            return Vec::new();
        }
        let fired = self.watches.advance(step);
        let fired = self.fleet_anomalies(fired);
        let mut found = Vec::with_capacity(fired.len());
        for (f, (incident, root)) in self.incidents_of(upstream_first(&self.watches, fired)) {
            let a = &f.anomaly;
            let mut evidence = serde_json::json!({
                "signal": a.signal,
                "observed": a.observed,
                "expected": a.expected,
                "band": [a.band.0, a.band.1],
                "score": a.score,
                "window_minutes": a.window_minutes,
                "rule": a.rule,
                "margin": a.margin,
                "step_seconds": self.watches.step().as_secs_f64(),
                "incident": incident,
                "root": root,
            });
            if !f.callers.is_empty() {
                evidence["callers"] = f.callers.clone().into();
            }
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "anomaly".into());
            let at = self.watches.step_start_secs(a.minute);
            found.push(self.push(kind, f.subject, at, evidence));
        }
        found
    }

    /// Groups statistical findings into incidents: a finding joins an incident under way (its
    /// last finding at most [`INCIDENT_STEPS`] steps earlier) when its endpoint's node is one
    /// of the incident's nodes or talks to one of them; otherwise it starts one and is its
    /// root. The incident's id is its root finding's id. Returns each finding with its
    /// incident id and whether it is the root.
    fn incidents_of(&mut self, fired: Vec<Fired>) -> Vec<(Fired, (u64, bool))> {
        let mut out = Vec::with_capacity(fired.len());
        for (next_id, f) in (self.next_id..).zip(fired) {
            let minute = f.anomaly.minute;
            self.incidents
                .retain(|i| minute.saturating_sub(i.last_minute) <= INCIDENT_STEPS);
            let joined = self.incidents.iter_mut().find(|i| {
                i.nodes.iter().any(|n| {
                    **n == *f.to
                        || self.watches.has_edge(n, &f.to)
                        || self.watches.has_edge(&f.to, n)
                })
            });
            let link = match joined {
                Some(i) => {
                    i.last_minute = i.last_minute.max(minute);
                    if !i.nodes.contains(&f.to) && i.nodes.len() < MAX_INCIDENT_NODES {
                        i.nodes.push(f.to.clone());
                    }
                    (i.id, false)
                }
                None => {
                    if self.incidents.len() >= MAX_OPEN_INCIDENTS {
                        self.incidents.remove(0);
                    }
                    self.incidents.push(OpenIncident {
                        id: next_id,
                        nodes: vec![f.to.clone()],
                        last_minute: minute,
                    });
                    (next_id, true)
                }
            };
            out.push((f, link));
        }
        out
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
