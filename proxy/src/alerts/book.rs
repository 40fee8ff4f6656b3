//! The alerts in force: one per kind and subject while it is not resolved, counting repeats;
//! incidents grouping alerts that touch the same node within a window; resolve after a quiet
//! period; which sink owes which alert a delivery. Pure state with the clock passed in.

use super::model::{Alert, Delivery, Incident, Kind, Severity, Signal, State};
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
                if a.state != State::Resolved && !a.delivery.contains_key(&r.sink) && r.wants(&a) {
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
    pub fn raise(&mut self, mut s: Signal) -> Raised {
        if let Some(id) = self.repeat(&mut s) {
            return Raised::Repeated(id);
        }
        if let Some(id) = self.snoozed_repeat(&s) {
            return Raised::Repeated(id);
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
            add_to_inventory(a, s);
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

    /// Counts the signal on the resolved alert of its kind and subject while that alert's snooze
    /// lasts; forgets an ended snooze.
    fn snoozed_repeat(&mut self, s: &Signal) -> Option<u64> {
        let key = (s.kind, s.subject.clone());
        let (id, until) = *self.snoozed.get(&key)?;
        let a = match self.alerts.get_mut(&id) {
            Some(a) if s.at < until && a.state == State::Resolved => a,
            _ => {
                self.snoozed.remove(&key);
                return None;
            }
        };
        a.count = a.count.saturating_add(s.count);
        a.last_seen = a.last_seen.max(s.at);
        self.dirty.insert(id);
        Some(id)
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
            nodes: s.nodes,
            version: 0,
            delivery: BTreeMap::new(),
        };
        a.incident = Some(self.place(&a));
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
        for r in &self.settings.routes {
            if r.wants(a) {
                a.delivery.entry(r.sink.clone()).or_default().wanted = a.version;
            }
        }
    }

    /// The incident for a new alert: an active one sharing a node, or a new one.
    fn place(&mut self, a: &Alert) -> u64 {
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

    /// Marks an alert acknowledged; repeats keep counting into it.
    pub fn acknowledge(&mut self, id: u64) -> Option<&Alert> {
        let a = self.alerts.get_mut(&id)?;
        if a.state == State::Open {
            a.state = State::Acknowledged;
            self.dirty.insert(id);
        }
        self.alerts.get(&id)
    }

    /// Resolves an alert by hand at `now` (unix milliseconds) and snoozes it for
    /// [`SNOOZE_MS`]: a cause still occurring counts on it meanwhile rather than opening a new
    /// alert at once.
    pub fn resolve_by_hand(&mut self, id: u64, now: u64) -> Option<&Alert> {
        let a = self.alerts.get(&id)?;
        if a.state != State::Resolved {
            let key = (a.kind, a.subject.clone());
            let until = now.saturating_add(SNOOZE_MS);
            self.snoozed.insert(key, (id, until));
            if self.snoozed.len() > MAX_RESOLVED {
                self.snoozed.retain(|_, (_, until)| *until > now);
            }
            if let Some(a) = self.alerts.get_mut(&id) {
                a.snoozed_until = Some(until);
            }
        }
        self.resolve(id)
    }

    /// Opens again an alert acknowledged or resolved (an undo): repeats count into it again and
    /// sinks hear of it. A resolved alert whose kind and subject has opened a new alert since
    /// stays resolved.
    pub fn reopen(&mut self, id: u64) -> Option<&Alert> {
        let a = self.alerts.get(&id)?;
        let key = (a.kind, a.subject.clone());
        match a.state {
            State::Open => {}
            State::Acknowledged => {
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.state = State::Open;
                }
                self.dirty.insert(id);
            }
            State::Resolved if self.live.contains_key(&key) => {}
            State::Resolved => {
                if self.snoozed.get(&key).is_some_and(|(s, _)| *s == id) {
                    self.snoozed.remove(&key);
                }
                self.live.insert(key, id);
                let kind = a.kind;
                *self.live_per_kind.entry(kind).or_default() += 1;
                let incident = a.incident;
                if let Some(mut a) = self.alerts.remove(&id) {
                    a.state = State::Open;
                    a.snoozed_until = None;
                    self.notify(&mut a);
                    self.alerts.insert(id, a);
                }
                self.dirty.insert(id);
                if let Some(i) = incident.and_then(|i| self.incidents.get_mut(&i)) {
                    i.state = State::Open;
                    self.dirty_incidents.insert(i.id);
                }
            }
        }
        self.alerts.get(&id)
    }

    /// Resolves an alert; the next signal of its kind and subject opens a new one.
    pub fn resolve(&mut self, id: u64) -> Option<&Alert> {
        let mut a = self.alerts.remove(&id)?;
        if a.state != State::Resolved {
            a.state = State::Resolved;
            if self.live.remove(&(a.kind, a.subject.clone())).is_some() {
                self.forget_live(a.kind, id);
            }
            self.notify(&mut a);
            self.dirty.insert(id);
            if let Some(inc) = a.incident {
                self.alerts.insert(id, a);
                self.close_incident(inc);
            } else {
                self.alerts.insert(id, a);
            }
        } else {
            self.alerts.insert(id, a);
        }
        self.alerts.get(&id)
    }

    fn close_incident(&mut self, id: u64) {
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

    /// Resolves every alert without a repeat for the quiet period; returns their ids.
    pub fn expire(&mut self, now: u64) -> Vec<u64> {
        let quiet: Vec<u64> = self
            .live
            .values()
            .filter(|id| {
                self.alerts
                    .get(id)
                    .is_some_and(|a| a.last_seen + self.settings.quiet_ms <= now)
            })
            .copied()
            .collect();
        for id in &quiet {
            self.resolve(*id);
        }
        quiet
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

    /// For each sink with a refresh period that has passed since its last refresh (or since
    /// the first call): every alert not resolved that it has is owed to it again. Returns how
    /// many alerts were owed again.
    pub fn refresh(&mut self, now: u64) -> usize {
        let mut n = 0;
        for r in &self.settings.routes {
            let Some(every) = r.refresh_ms else { continue };
            let last = self.refreshed.entry(r.sink.clone()).or_insert(now);
            if now.saturating_sub(*last) < every {
                continue;
            }
            *last = now;
            for a in self.alerts.values_mut() {
                if a.state == State::Resolved {
                    continue;
                }
                if let Some(d) = a.delivery.get_mut(&r.sink) {
                    if !d.owed() && d.wanted > 0 {
                        d.done = 0;
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Alert ids a sink owes, stored as they are now and not already in its hands; marks them
    /// in flight.
    pub fn owed(&mut self, sink: &str, max: usize) -> Vec<u64> {
        let mut out = Vec::new();
        for a in self.alerts.values() {
            if out.len() == max {
                break;
            }
            let owes = a.delivery.get(sink).is_some_and(Delivery::owed);
            if owes
                && !self.dirty.contains(&a.id)
                && !self.in_flight.contains(&(sink.to_owned(), a.id))
            {
                out.push(a.id);
            }
        }
        for id in &out {
            self.in_flight.insert((sink.to_owned(), *id));
        }
        out
    }

    /// The sink gave up on a queued job (its queue was full).
    pub fn release(&mut self, sink: &str, id: u64) {
        self.in_flight.remove(&(sink.to_owned(), id));
    }

    /// What a sink should send for an alert now, or `None` when it owes nothing.
    pub fn deliverable(&self, sink: &str, id: u64) -> Option<Alert> {
        let a = self.alerts.get(&id)?;
        a.delivery.get(sink).filter(|d| d.owed())?;
        Some(a.clone())
    }

    /// A sink confirmed `version` of an alert.
    pub fn delivered(&mut self, sink: &str, id: u64, version: u64) {
        self.in_flight.remove(&(sink.to_owned(), id));
        if let Some(d) = self
            .alerts
            .get_mut(&id)
            .and_then(|a| a.delivery.get_mut(sink))
        {
            d.done = d.done.max(version);
            d.failures = 0;
            d.error = None;
            self.dirty.insert(id);
        }
    }

    /// A sink failed to deliver an alert; returns the failures in a row.
    pub fn failed(&mut self, sink: &str, id: u64, error: String) -> u32 {
        let Some(d) = self
            .alerts
            .get_mut(&id)
            .and_then(|a| a.delivery.get_mut(sink))
        else {
            return 0;
        };
        d.failures = d.failures.saturating_add(1);
        d.error = Some(error);
        let n = d.failures;
        self.dirty.insert(id);
        n
    }

    /// The sink stopped working on an alert (delivered, or it no longer owes it).
    pub fn done(&mut self, sink: &str, id: u64) {
        self.in_flight.remove(&(sink.to_owned(), id));
    }

    /// Deliveries owed per sink, for metrics.
    pub fn owed_counts(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = self
            .settings
            .routes
            .iter()
            .map(|r| (r.sink.clone(), 0))
            .collect();
        for a in self.alerts.values() {
            for (sink, d) in &a.delivery {
                if d.owed() {
                    *out.entry(sink.clone()).or_default() += 1;
                }
            }
        }
        out
    }

    /// The next ids, for the store.
    pub fn next_ids(&self) -> (u64, u64) {
        (self.next_alert, self.next_incident)
    }
}

/// Counts a first sighting into a node's inventory notice: the evidence lists what appeared
/// (the first [`MAX_INVENTORY_LISTED`]) and how many things did; the summary says so.
fn add_to_inventory(a: &mut Alert, s: &mut Signal) {
    let new: Vec<serde_json::Value> = s
        .evidence
        .get_mut("appeared")
        .and_then(serde_json::Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let latest = new
        .last()
        .map(|i| {
            let kind = i["kind"].as_str().unwrap_or_default().replace('_', " ");
            format!("{kind} {}", i["subject"].as_str().unwrap_or_default())
        })
        .unwrap_or_default();
    if !a.evidence.is_object() {
        a.evidence = serde_json::json!({});
    }
    if let Some(o) = a.evidence.as_object_mut() {
        let listed = o.entry("appeared").or_insert_with(|| serde_json::json!([]));
        if let Some(list) = listed.as_array_mut() {
            let room = MAX_INVENTORY_LISTED.saturating_sub(list.len());
            list.extend(new.into_iter().take(room));
        }
        o.insert("appeared_total".into(), a.count.into());
    }
    a.summary = super::intake::inventory_summary(&a.subject, a.count, &latest);
}

/// The signal as counted into its source's group alert: many subjects from one source.
fn grouped(s: Signal, group: String) -> Signal {
    let words = s.kind.as_str().replace('_', " ");
    Signal {
        summary: format!(
            "{words}: {group} (more than {MAX_OPEN_PER_GROUP} subjects from one source; latest {})",
            s.subject
        ),
        evidence: serde_json::json!({
            "aggregate": "source",
            "latest_subject": s.subject,
            "latest": s.evidence,
        }),
        // The source's node only: the many destinations are not one node.
        nodes: s.nodes.into_iter().take(1).collect(),
        subject: group,
        group: None,
        ..s
    }
}

/// The signal as counted into its kind's overflow alert.
fn overflowing(s: Signal) -> Signal {
    let words = s.kind.as_str().replace('_', " ");
    Signal {
        summary: format!(
            "{words}: more than {MAX_OPEN_PER_KIND} alerts of this kind open; further subjects are counted here (latest {})",
            s.subject
        ),
        evidence: serde_json::json!({
            "aggregate": "kind",
            "latest_subject": s.subject,
            "latest": s.evidence,
        }),
        nodes: vec!["sightline:alerts".into()],
        subject: OVERFLOW_SUBJECT.into(),
        group: None,
        ..s
    }
}

#[cfg(test)]
mod tests;
