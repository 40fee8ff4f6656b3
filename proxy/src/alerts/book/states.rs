//! An alert's state changes: acknowledge, resolve (by hand with its snooze, or by itself after
//! the quiet period), reopen (an undo), and repeats counted on a snoozed alert.

use super::{Book, MAX_RESOLVED, SNOOZE_MS};
use crate::alerts::model::{Alert, Signal, State};

impl Book {
    /// Counts the signal on the resolved alert of its kind and subject while that alert's snooze
    /// lasts; forgets an ended snooze.
    pub(super) fn snoozed_repeat(&mut self, s: &Signal) -> Option<u64> {
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
}
