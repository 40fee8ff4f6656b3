//! Deliveries: which sink owes which alert, the alerts in a sink's hands, what it confirmed or
//! failed, and the refresh that owes live alerts again to sinks that want them re-sent.

use super::Book;
use crate::alerts::model::{Alert, Delivery, State};
use std::collections::BTreeMap;

impl Book {
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
                if a.state == State::Resolved || a.silenced_by.is_some() {
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
}
