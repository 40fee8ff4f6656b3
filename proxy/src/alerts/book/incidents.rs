//! Incidents: placing a new alert in an active incident sharing one of its nodes (or a new
//! one), joining incidents an alert links, and resolving an incident once all its alerts are.

use super::{Book, MAX_INCIDENTS, MAX_INCIDENT_ALERTS, MAX_INCIDENT_NODES};
use crate::alerts::model::{Alert, Incident, State};
use std::collections::BTreeMap;

impl Book {
    /// The incident for a new alert: an active one sharing a node, or a new one.
    pub(super) fn place(&mut self, a: &Alert) -> u64 {
        let since = a.first_seen.saturating_sub(self.settings.window_ms);
        let found: Vec<u64> = self
            .incidents
            .values()
            .filter(|i| {
                i.state != State::Resolved
                    && i.last_seen >= since
                    && a.nodes.iter().any(|n| i.nodes.contains_key(n))
            })
            .map(|i| i.id)
            .collect();
        // An alert that links several active incidents joins them into the oldest.
        let id = match found.split_first() {
            Some((&oldest, others)) => {
                for &other in others {
                    self.fold(other, oldest);
                }
                oldest
            }
            None => {
                let id = self.next_incident;
                self.next_incident += 1;
                let root = a
                    .nodes
                    .first()
                    .cloned()
                    .unwrap_or_else(|| a.subject.clone());
                self.incidents.insert(
                    id,
                    Incident {
                        id,
                        root,
                        state: State::Open,
                        alerts: Vec::new(),
                        nodes: BTreeMap::new(),
                        first_seen: a.first_seen,
                        last_seen: a.first_seen,
                    },
                );
                if self.incidents.len() > MAX_INCIDENTS {
                    let old = self
                        .incidents
                        .values()
                        .find(|i| i.state == State::Resolved)
                        .map(|i| i.id);
                    if let Some(old) = old {
                        self.incidents.remove(&old);
                    }
                }
                id
            }
        };
        if let Some(i) = self.incidents.get_mut(&id) {
            if i.alerts.len() < MAX_INCIDENT_ALERTS {
                i.alerts.push(a.id);
            }
            for n in &a.nodes {
                if i.nodes.len() < MAX_INCIDENT_NODES || i.nodes.contains_key(n) {
                    *i.nodes.entry(n.clone()).or_default() += 1;
                }
            }
            // The root is the node most of its alerts touch; the current root keeps a tie.
            let max = i.nodes.values().copied().max().unwrap_or(0);
            if i.nodes.get(&i.root).copied() != Some(max) {
                if let Some((n, _)) = i.nodes.iter().find(|(_, c)| **c == max) {
                    i.root = n.clone();
                }
            }
            i.last_seen = i.last_seen.max(a.first_seen);
            i.state = State::Open;
            self.dirty_incidents.insert(id);
        }
        id
    }

    /// Moves the alerts and nodes of incident `from` into `into`; `from` is left empty and
    /// resolved (and no longer listed).
    fn fold(&mut self, from: u64, into: u64) {
        let Some(f) = self.incidents.get_mut(&from) else {
            return;
        };
        let alerts = std::mem::take(&mut f.alerts);
        let nodes = std::mem::take(&mut f.nodes);
        let (first, last) = (f.first_seen, f.last_seen);
        f.state = State::Resolved;
        self.dirty_incidents.insert(from);
        for id in &alerts {
            if let Some(a) = self.alerts.get_mut(id) {
                a.incident = Some(into);
                self.dirty.insert(*id);
            }
        }
        let Some(i) = self.incidents.get_mut(&into) else {
            return;
        };
        for id in alerts {
            if i.alerts.len() < MAX_INCIDENT_ALERTS {
                i.alerts.push(id);
            }
        }
        i.alerts.sort_unstable();
        for (n, c) in nodes {
            if i.nodes.len() < MAX_INCIDENT_NODES || i.nodes.contains_key(&n) {
                *i.nodes.entry(n).or_default() += c;
            }
        }
        i.first_seen = i.first_seen.min(first);
        i.last_seen = i.last_seen.max(last);
        self.dirty_incidents.insert(into);
    }

    pub(super) fn close_incident(&mut self, id: u64) {
        let Some(i) = self.incidents.get(&id) else {
            return;
        };
        let done = i.alerts.iter().all(|a| {
            self.alerts
                .get(a)
                .is_none_or(|a| a.state == State::Resolved)
        });
        if done {
            if let Some(i) = self.incidents.get_mut(&id) {
                i.state = State::Resolved;
                self.dirty_incidents.insert(id);
            }
        }
    }
}
