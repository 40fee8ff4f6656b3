//! The alerts in force: one per kind and subject while it is not resolved, counting repeats;
//! incidents grouping alerts that touch the same node within a window; resolve after a quiet
//! period; which sink owes which alert a delivery. Pure state with the clock passed in.
//!
//! This file holds the book itself: its limits and settings, restoring it, counting a signal
//! into its alert or opening one, and what it lists. Incidents are in `incidents.rs`, state
//! changes (acknowledge, resolve, snooze, reopen) in `states.rs`, deliveries owed to the sinks
//! in `owed.rs`, and the alerts standing for many signals in `aggregate.rs`.

mod aggregate;
mod incidents;
mod owed;
mod silences;
mod states;

use super::model::{Alert, Delivery, Incident, Kind, Severity, Signal, Silence, State};
use aggregate::{
    add_to_chain, add_to_inventory, appeared, chain_of, grouped, links_chain, overflowing,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Alerts not resolved, at most. Each kind has room of its own within it
/// ([`MAX_OPEN_PER_KIND`] plus its overflow alert), so this is only reached by a restored book.
pub const MAX_OPEN: usize = 10_000;
/// Alerts of one kind not resolved, at most (besides the kind's overflow alert): a flood of
/// one kind never takes the room of another.
pub const MAX_OPEN_PER_KIND: usize = MAX_OPEN / Kind::ALL.len() - 1;
/// Alerts of one kind open for subjects of one source (a signal's `group`) before the source's
/// further subjects count into one alert for the group.
pub const MAX_OPEN_PER_GROUP: usize = 20;
/// The subject of a kind's overflow alert, which counts the signals of new subjects once the
/// kind has [`MAX_OPEN_PER_KIND`] alerts open.
pub const OVERFLOW_SUBJECT: &str = "*";
/// How long an alert resolved by hand stays snoozed (milliseconds): repeats of its cause
/// meanwhile count on the resolved alert instead of opening a new one at once; the first repeat
/// after it opens a new alert.
pub const SNOOZE_MS: u64 = 10 * 60 * 1000;
/// First sightings listed in the evidence of a node's inventory notice (all are counted).
pub const MAX_INVENTORY_LISTED: usize = 100;
/// Subjects listed in the evidence of an anomaly alert standing for a call chain (all are
/// counted).
pub const MAX_CHAIN_LISTED: usize = 50;
/// Nodes an anomaly alert standing for a call chain names.
pub const MAX_CHAIN_NODES: usize = 32;
/// Silences in force at once, at most.
pub const MAX_SILENCES: usize = 1_000;
/// Resolved alerts kept in memory for the API (the store keeps more).
pub const MAX_RESOLVED: usize = 1_000;
/// Alerts listed in one incident.
pub const MAX_INCIDENT_ALERTS: usize = 1_000;
/// Nodes counted in one incident.
pub const MAX_INCIDENT_NODES: usize = 256;
/// Incidents kept in memory.
pub const MAX_INCIDENTS: usize = 2_000;

/// A sink's name and what it wants to hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The sink's name.
    pub sink: String,
    /// Only these kinds; empty means every kind.
    pub kinds: Vec<Kind>,
    /// Only alerts at least this severe.
    pub min_severity: Severity,
    /// Send every alert that is not resolved again this often (milliseconds): receivers such
    /// as Alertmanager end an alert that is not re-sent.
    pub refresh_ms: Option<u64>,
}

impl Route {
    fn wants(&self, a: &Alert) -> bool {
        a.severity >= self.min_severity && (self.kinds.is_empty() || self.kinds.contains(&a.kind))
    }
}

/// Alerts joined into a chain's alert: their subjects, nodes and counts.
#[derive(Default)]
struct Chain {
    subjects: Vec<serde_json::Value>,
    nodes: Vec<String>,
    count: u64,
}

/// The analysis' incident of an anomaly signal (`evidence.incident`), if it names one.
fn analysis_incident(s: &Signal) -> Option<u64> {
    let anomaly = matches!(
        s.kind,
        Kind::RateAnomaly | Kind::ErrorAnomaly | Kind::LatencyAnomaly
    );
    anomaly
        .then(|| {
            s.evidence
                .get("incident")
                .and_then(serde_json::Value::as_u64)
        })
        .flatten()
}

/// Grouping and resolving knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookSettings {
    /// Severity per kind, when not the kind's default.
    pub severities: BTreeMap<Kind, Severity>,
    /// An alert without repeats for this long resolves itself (milliseconds).
    pub quiet_ms: u64,
    /// Alerts join an incident active within this window (milliseconds).
    pub window_ms: u64,
    /// The sinks.
    pub routes: Vec<Route>,
}

/// What a signal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// A new alert opened.
    Opened(u64),
    /// An existing alert counted a repeat.
    Repeated(u64),
    /// Counted into an alert standing for many subjects (its source's group alert, or its
    /// kind's overflow alert), which opened if it was not open.
    Aggregated(u64),
    /// Dropped: too many alerts open.
    Overflow,
}

/// The alerts and incidents.
#[derive(Debug)]
pub struct Book {
    settings: BookSettings,
    alerts: BTreeMap<u64, Alert>,
    live: HashMap<(Kind, String), u64>,
    /// Alerts not resolved, per kind.
    live_per_kind: HashMap<Kind, usize>,
    /// Alerts not resolved, per kind and group; and the group of each such alert.
    live_per_group: HashMap<(Kind, String), usize>,
    groups: HashMap<u64, String>,
    incidents: BTreeMap<u64, Incident>,
    next_alert: u64,
    next_incident: u64,
    dirty: BTreeSet<u64>,
    dirty_incidents: BTreeSet<u64>,
    in_flight: BTreeSet<(String, u64)>,
    /// When each sink with a refresh period was last refreshed.
    refreshed: BTreeMap<String, u64>,
    /// Alerts resolved by hand whose snooze has not ended: per kind and subject, the alert and
    /// the end of its snooze (unix milliseconds).
    snoozed: HashMap<(Kind, String), (u64, u64)>,
    /// Silences, by id.
    silences: BTreeMap<u64, Silence>,
    next_silence: u64,
    silences_dirty: bool,
    /// The alert standing for each of the analysis' incidents (by the incident's id). Kept in
    /// memory only: incident ids of an earlier run mean nothing to this one.
    by_incident: HashMap<u64, u64>,
    /// Signals that did not get an alert of their own: counted into a group or overflow alert,
    /// or dropped because [`MAX_OPEN`] alerts were open.
    pub overflow: u64,
}

impl Book {
    /// An empty book.
    pub fn new(settings: BookSettings) -> Book {
        Book {
            settings,
            alerts: BTreeMap::new(),
            live: HashMap::new(),
            live_per_kind: HashMap::new(),
            live_per_group: HashMap::new(),
            groups: HashMap::new(),
            incidents: BTreeMap::new(),
            next_alert: 1,
            next_incident: 1,
            dirty: BTreeSet::new(),
            dirty_incidents: BTreeSet::new(),
            in_flight: BTreeSet::new(),
            refreshed: BTreeMap::new(),
            snoozed: HashMap::new(),
            silences: BTreeMap::new(),
            next_silence: 1,
            silences_dirty: false,
            by_incident: HashMap::new(),
            overflow: 0,
        }
    }

    /// Takes back stored alerts and incidents. A configured sink that never heard of a live
    /// alert owes it a delivery; sinks no longer configured are forgotten.
    pub fn restore(&mut self, alerts: Vec<Alert>, incidents: Vec<Incident>, next: (u64, u64)) {
        self.next_alert = self.next_alert.max(next.0);
        self.next_incident = self.next_incident.max(next.1);
        for i in incidents {
            self.next_incident = self.next_incident.max(i.id + 1);
            self.incidents.insert(i.id, i);
        }
        for mut a in alerts {
            self.next_alert = self.next_alert.max(a.id + 1);
            a.delivery
                .retain(|name, _| self.settings.routes.iter().any(|r| &r.sink == name));
            for r in &self.settings.routes {
                if a.state != State::Resolved
                    && a.silenced_by.is_none()
                    && !a.delivery.contains_key(&r.sink)
                    && r.wants(&a)
                {
                    a.delivery.insert(
                        r.sink.clone(),
                        Delivery {
                            wanted: a.version,
                            ..Delivery::default()
                        },
                    );
                    self.dirty.insert(a.id);
                }
            }
            if let (State::Resolved, Some(until)) = (a.state, a.snoozed_until) {
                self.snoozed
                    .insert((a.kind, a.subject.clone()), (a.id, until));
            }
            if a.state != State::Resolved
                && self
                    .live
                    .insert((a.kind, a.subject.clone()), a.id)
                    .is_none()
            {
                *self.live_per_kind.entry(a.kind).or_default() += 1;
            }
            self.alerts.insert(a.id, a);
        }
    }

    /// Counts a signal into its alert, opening one (and placing it in an incident) if needed.
    /// A new subject whose source already has [`MAX_OPEN_PER_GROUP`] alerts of the kind open
    /// counts into the source's group alert instead; one that finds its kind's room full
    /// counts into the kind's overflow alert, which says so.
    ///
    /// An anomaly the analysis placed in an incident (`evidence.incident`) counts into the one
    /// alert of that incident, whatever its kind or subject; only anomalies without one are
    /// grouped by the call chain rule ([`Book::chain_repeat`]).
    pub fn raise(&mut self, mut s: Signal) -> Raised {
        let incident = analysis_incident(&s);
        if let Some(inc) = incident {
            // The incident's alert, else an alert still open for this kind and subject (the
            // same cause, carried on from an earlier incident): one incident, one alert.
            let id = self
                .incident_alert(inc, s.at)
                .or_else(|| self.live.get(&(s.kind, s.subject.clone())).copied());
            if let Some(id) = id {
                self.remember_incident(inc, id);
                self.count_into_chain(id, &mut s, Chain::default());
                return Raised::Repeated(id);
            }
        }
        let raised = self.raise_alone(s, incident.is_none());
        if let (Some(inc), Raised::Opened(id) | Raised::Repeated(id) | Raised::Aggregated(id)) =
            (incident, raised)
        {
            self.remember_incident(inc, id);
        }
        raised
    }

    /// The alert standing for the analysis' incident `inc`, while it takes repeats: not
    /// resolved, or resolved by hand and still snoozed at `at`.
    fn incident_alert(&mut self, inc: u64, at: u64) -> Option<u64> {
        let id = *self.by_incident.get(&inc)?;
        let takes = self.alerts.get(&id).is_some_and(|a| {
            a.state != State::Resolved || a.snoozed_until.is_some_and(|until| at < until)
        });
        if !takes {
            self.by_incident.remove(&inc);
            return None;
        }
        Some(id)
    }

    /// Notes that alert `id` stands for the analysis' incident `inc`; forgets incidents whose
    /// alert resolved once there are too many.
    fn remember_incident(&mut self, inc: u64, id: u64) {
        self.by_incident.insert(inc, id);
        if self.by_incident.len() > MAX_INCIDENTS {
            let alerts = &self.alerts;
            self.by_incident
                .retain(|_, id| alerts.get(id).is_some_and(|a| a.state != State::Resolved));
        }
    }

    /// Counts a signal into its alert or opens one, without the analysis' incident: repeats of
    /// the kind and subject, snoozed alerts, the call chain rule (when `chain`), then the
    /// source's group alert and the kind's overflow alert.
    fn raise_alone(&mut self, mut s: Signal, chain: bool) -> Raised {
        if let Some(id) = self.repeat(&mut s) {
            return Raised::Repeated(id);
        }
        if let Some(id) = self.snoozed_repeat(&s) {
            return Raised::Repeated(id);
        }
        if chain {
            if let Some(id) = self.chain_repeat(&mut s) {
                return Raised::Repeated(id);
            }
        }
        let mut aggregated = false;
        if let Some(group) = s.group.take() {
            let full = self
                .live_per_group
                .get(&(s.kind, group.clone()))
                .is_some_and(|n| *n >= MAX_OPEN_PER_GROUP);
            if full {
                s = grouped(s, group);
                aggregated = true;
                if let Some(id) = self.repeat(&mut s) {
                    self.overflow += 1;
                    return Raised::Aggregated(id);
                }
            } else {
                s.group = Some(group);
            }
        }
        let kind_full = self
            .live_per_kind
            .get(&s.kind)
            .is_some_and(|n| *n >= MAX_OPEN_PER_KIND);
        if kind_full {
            s = overflowing(s);
            aggregated = true;
            if let Some(id) = self.repeat(&mut s) {
                self.overflow += 1;
                return Raised::Aggregated(id);
            }
        } else if self.live.len() >= MAX_OPEN {
            self.overflow += 1;
            return Raised::Overflow;
        }
        let id = self.open(s);
        if aggregated {
            self.overflow += 1;
            Raised::Aggregated(id)
        } else {
            Raised::Opened(id)
        }
    }

    /// Counts the signal into the open alert of its kind and subject, if there is one.
    fn repeat(&mut self, s: &mut Signal) -> Option<u64> {
        let id = *self.live.get(&(s.kind, s.subject.clone()))?;
        let a = self.alerts.get_mut(&id)?;
        a.count = a.count.saturating_add(s.count);
        a.last_seen = a.last_seen.max(s.at);
        if a.kind == Kind::Inventory {
            add_to_inventory(a, appeared(&mut s.evidence));
        } else {
            a.evidence = std::mem::take(&mut s.evidence);
            a.summary = std::mem::take(&mut s.summary);
        }
        let incident = a.incident;
        self.dirty.insert(id);
        if let Some(i) = incident.and_then(|i| self.incidents.get_mut(&i)) {
            if i.last_seen < s.at {
                i.last_seen = s.at;
                self.dirty_incidents.insert(i.id);
            }
        }
        Some(id)
    }

    /// Counts an anomaly into the alert of its kind for the call chain it is part of: an alert
    /// of the same kind, not resolved (or resolved by hand and still snoozed), seen within the
    /// incident window and sharing a service with it (one flash crowd shows on every edge and
    /// endpoint along gateway, catalog and datastore: that is one thing to act on).
    fn chain_repeat(&mut self, s: &mut Signal) -> Option<u64> {
        if !matches!(
            s.kind,
            Kind::RateAnomaly | Kind::ErrorAnomaly | Kind::LatencyAnomaly
        ) {
            return None;
        }
        let since = s.at.saturating_sub(self.settings.window_ms);
        let shares = |a: &Alert| {
            a.kind == s.kind
                && a.last_seen >= since
                && a.nodes
                    .iter()
                    .any(|n| links_chain(n) && s.nodes.contains(n))
        };
        let live = self
            .live
            .iter()
            .filter(|((k, _), _)| *k == s.kind)
            .map(|(_, id)| *id);
        let snoozed = self
            .snoozed
            .iter()
            .filter(|((k, _), (_, until))| *k == s.kind && s.at < *until)
            .map(|(_, (id, _))| *id);
        let mut live: Vec<u64> = live
            .filter(|id| self.alerts.get(id).is_some_and(shares))
            .collect();
        live.sort_unstable();
        // A live alert is preferred: a chain resolved by hand and snoozed takes repeats only
        // when no live alert does.
        let (id, others) = match live.split_first() {
            Some((&id, others)) => (id, others.to_vec()),
            None => (
                snoozed
                    .filter(|id| self.alerts.get(id).is_some_and(shares))
                    .min()?,
                Vec::new(),
            ),
        };
        // A subject linking two chains joins them: the later alerts count into the oldest and
        // resolve, saying where they went.
        let mut joined = Vec::new();
        let mut joined_nodes = Vec::new();
        let mut joined_count = 0u64;
        for other in others {
            let Some(o) = self.alerts.get_mut(&other) else {
                continue;
            };
            joined.extend(chain_of(o));
            joined_nodes.extend(o.nodes.iter().cloned());
            joined_count = joined_count.saturating_add(o.count);
            o.summary = format!("{} (joined into alert {id})", o.summary);
            o.evidence["joined_into"] = id.into();
            self.resolve(other);
        }
        self.count_into_chain(
            id,
            s,
            Chain {
                subjects: joined,
                nodes: joined_nodes,
                count: joined_count,
            },
        );
        Some(id)
    }

    /// Counts an anomaly (and the alerts `joined` into it) into alert `id`, which stands for
    /// a chain of subjects: its nodes grow along the chain, its evidence lists the subjects,
    /// and its severity rises to the most severe kind counted in.
    fn count_into_chain(&mut self, id: u64, s: &mut Signal, joined: Chain) {
        let severity = self
            .settings
            .severities
            .get(&s.kind)
            .copied()
            .unwrap_or(s.kind.default_severity());
        let Some(mut a) = self.alerts.remove(&id) else {
            return;
        };
        a.count = a.count.saturating_add(s.count).saturating_add(joined.count);
        a.last_seen = a.last_seen.max(s.at);
        let mut added = Vec::new();
        for n in joined.nodes.iter().chain(&s.nodes) {
            if !a.nodes.contains(n) && a.nodes.len() < MAX_CHAIN_NODES {
                a.nodes.push(n.clone());
                added.push(n.clone());
            }
        }
        add_to_chain(&mut a, s, joined.subjects);
        if severity > a.severity {
            a.severity = severity;
            self.notify(&mut a);
        }
        let incident = a.incident;
        self.alerts.insert(id, a);
        self.dirty.insert(id);
        if let Some(i) = incident.and_then(|i| self.incidents.get_mut(&i)) {
            i.last_seen = i.last_seen.max(s.at);
            for n in added {
                if i.nodes.len() < MAX_INCIDENT_NODES || i.nodes.contains_key(&n) {
                    *i.nodes.entry(n).or_default() += 1;
                }
            }
            self.dirty_incidents.insert(i.id);
        }
    }

    /// Opens an alert for the signal.
    fn open(&mut self, s: Signal) -> u64 {
        let id = self.next_alert;
        self.next_alert += 1;
        let severity = self
            .settings
            .severities
            .get(&s.kind)
            .copied()
            .unwrap_or(s.kind.default_severity());
        let mut a = Alert {
            id,
            kind: s.kind,
            severity,
            state: State::Open,
            subject: s.subject,
            summary: s.summary,
            count: s.count,
            first_seen: s.at,
            last_seen: s.at,
            evidence: s.evidence,
            snoozed_until: None,
            incident: None,
            silenced_by: None,
            nodes: s.nodes,
            version: 0,
            delivery: BTreeMap::new(),
        };
        if a.kind == Kind::Inventory {
            let first = appeared(&mut a.evidence);
            add_to_inventory(&mut a, first);
        }
        a.incident = Some(self.place(&a));
        a.silenced_by = self.silencing(a.kind, &a.subject, a.first_seen);
        self.notify(&mut a);
        self.live.insert((a.kind, a.subject.clone()), id);
        *self.live_per_kind.entry(a.kind).or_default() += 1;
        if let Some(group) = s.group {
            *self
                .live_per_group
                .entry((a.kind, group.clone()))
                .or_default() += 1;
            self.groups.insert(id, group);
        }
        self.alerts.insert(id, a);
        self.dirty.insert(id);
        self.prune();
        id
    }

    /// Forgets a resolved alert in the per-kind and per-group counts.
    fn forget_live(&mut self, kind: Kind, id: u64) {
        if let Some(n) = self.live_per_kind.get_mut(&kind) {
            *n = n.saturating_sub(1);
        }
        if let Some(group) = self.groups.remove(&id) {
            let key = (kind, group);
            if let Some(n) = self.live_per_group.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.live_per_group.remove(&key);
                }
            }
        }
    }

    /// A new version for the sinks that want this alert.
    fn notify(&self, a: &mut Alert) {
        a.version += 1;
        if a.silenced_by.is_some() {
            return;
        }
        for r in &self.settings.routes {
            if r.wants(a) {
                a.delivery.entry(r.sink.clone()).or_default().wanted = a.version;
            }
        }
    }

    /// Drops the oldest resolved alerts past [`MAX_RESOLVED`] once no sink owes them.
    fn prune(&mut self) {
        let resolved = self.alerts.len().saturating_sub(self.live.len());
        if resolved <= MAX_RESOLVED {
            return;
        }
        let extra = resolved - MAX_RESOLVED;
        let old: Vec<u64> = self
            .alerts
            .values()
            .filter(|a| {
                a.state == State::Resolved
                    && !a.delivery.values().any(Delivery::owed)
                    && !self.dirty.contains(&a.id)
            })
            .take(extra)
            .map(|a| a.id)
            .collect();
        for id in old {
            self.alerts.remove(&id);
        }
    }

    /// One alert.
    pub fn get(&self, id: u64) -> Option<&Alert> {
        self.alerts.get(&id)
    }

    /// Every alert in memory, newest first.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().rev()
    }

    /// Every incident in memory with alerts, newest first (one folded into another has none).
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents
            .values()
            .rev()
            .filter(|i| !i.alerts.is_empty())
    }

    /// Alerts not resolved.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Takes the alerts and incidents changed since the last call.
    pub fn take_dirty(&mut self) -> (Vec<Alert>, Vec<Incident>) {
        let a = std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|id| self.alerts.get(&id).cloned())
            .collect();
        let i = std::mem::take(&mut self.dirty_incidents)
            .into_iter()
            .filter_map(|id| self.incidents.get(&id).cloned())
            .collect();
        (a, i)
    }

    /// Marks these alerts changed again (their write failed).
    pub fn redirty(&mut self, alerts: &[Alert], incidents: &[Incident]) {
        self.dirty.extend(alerts.iter().map(|a| a.id));
        self.dirty_incidents.extend(incidents.iter().map(|i| i.id));
    }

    /// The next ids, for the store.
    pub fn next_ids(&self) -> (u64, u64) {
        (self.next_alert, self.next_incident)
    }
}

#[cfg(test)]
mod tests;
