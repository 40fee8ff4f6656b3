//! The alert thread: takes signals off the bounded intake queue, counts them into the book,
//! resolves quiet alerts, watches Sightline's own fault counters, writes every change to the
//! store and only then streams it and hands owed deliveries to the sinks.

use super::book::{Book, Raised};
use super::intake;
use super::model::{Kind, Signal};
use super::store::AlertStore;
use super::{lock, AlertStats, Msg};
use crate::record::queue::{Receiver, RecvTimeoutError};
use sightline_policy::clients::Clock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// Most signals counted between two writes.
const BATCH: usize = 20_000;
/// How often quiet alerts and fault counters are checked, and owed deliveries offered again.
const TICK: Duration = Duration::from_secs(1);

/// Counters the engine turns into fault alerts when they grow.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The recorder's counters (dropped records).
    pub counters: Option<Arc<crate::record::Counters>>,
    /// The store's health.
    pub store: Option<Arc<crate::store::StoreStats>>,
    /// The fleet's shared store, where deliveries are claimed so each alert is sent once per
    /// fleet.
    pub claims: Option<Arc<dyn super::delivery::Claims>>,
    /// The fleet's shared store, where every written change of an alert or incident is
    /// copied (without waiting: a full queue drops and counts the copy) so that every
    /// instance shows it and it outlives this instance.
    pub mirror: Option<crate::store::Store>,
}

/// A counter's last seen value, to raise only on growth.
#[derive(Default)]
pub(super) struct Seen {
    last: BTreeMap<&'static str, u64>,
}

impl Seen {
    fn grew(&mut self, name: &'static str, now: u64) -> u64 {
        let last = self.last.insert(name, now).unwrap_or(0);
        now.saturating_sub(last)
    }
}

pub(super) struct Engine {
    pub book: Arc<Mutex<Book>>,
    pub store: AlertStore,
    pub rx: Receiver<Msg>,
    pub sinks: Vec<(String, mpsc::Sender<u64>)>,
    pub stream: broadcast::Sender<Arc<str>>,
    pub stats: Arc<AlertStats>,
    pub faults: Faults,
    pub stop: Arc<AtomicBool>,
    /// The clock the analysis reads: quiet alerts resolve on the timeline of the findings
    /// that raised them, and fault alerts carry its time.
    pub clock: Arc<dyn Clock>,
    pub seen: Seen,
}

impl Engine {
    pub fn run(mut self) {
        let mut last_tick: Option<Instant> = None;
        let mut last_prune = Instant::now();
        loop {
            let mut stopping = self.stop.load(std::sync::atomic::Ordering::Acquire);
            let mut batch = Vec::new();
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(m) => batch.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stopping = true,
            }
            while batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let tick = last_tick.is_none_or(|t| t.elapsed() >= TICK);
            {
                let mut book = lock(&self.book);
                for m in batch {
                    if let Msg::Signal(s) = m {
                        self.count(&mut book, s);
                    }
                }
            }
            if tick {
                last_tick = Some(Instant::now());
                self.tick();
            }
            let wrote = self.persist();
            if wrote || tick {
                self.dispatch();
            }
            if last_prune.elapsed() > Duration::from_secs(600) {
                last_prune = Instant::now();
                let _ = self.store.prune();
            }
            if stopping {
                self.persist();
                return;
            }
        }
    }

    /// The clock's now, in unix milliseconds.
    fn now_ms(&self) -> u64 {
        self.clock.now() / 1000
    }

    /// Resolves alerts quiet for the quiet period, marks alerts due for a refresh owed again and
    /// counts fault counters that grew, all at the clock's now.
    pub(super) fn tick(&mut self) {
        let now = self.now_ms();
        let faults = self.faults();
        let mut book = lock(&self.book);
        book.expire(now);
        book.refresh(now);
        for mut s in faults {
            s.at = now;
            self.count(&mut book, s);
        }
    }

    fn count(&self, book: &mut Book, s: Signal) {
        self.stats.raised.fetch_add(1, Relaxed);
        if matches!(book.raise(s), Raised::Overflow | Raised::Aggregated(_)) {
            self.stats.overflow.fetch_add(1, Relaxed);
        }
    }

    /// Fault signals for counters that grew since the last tick.
    fn faults(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        let seen = &mut self.seen;
        let mut check = |name, subject: &str, kind, value: u64| {
            let n = seen.grew(name, value);
            if n > 0 {
                out.push(intake::fault(
                    kind,
                    subject,
                    n,
                    serde_json::json!({ "counter": name, "total": value, "new": n }),
                ));
            }
        };
        if let Some(c) = &self.faults.counters {
            check(
                "records_dropped",
                "recorder",
                Kind::DroppedRecords,
                c.records_dropped.load(Relaxed),
            );
        }
        if let Some(s) = &self.faults.store {
            check(
                "store_errors",
                "store",
                Kind::StoreFailing,
                s.errors.load(Relaxed),
            );
            check(
                "store_dropped",
                "store",
                Kind::DroppedRecords,
                s.dropped.load(Relaxed),
            );
        }
        check(
            "alert_signals_dropped",
            "alerts",
            Kind::DroppedRecords,
            self.stats.dropped.load(Relaxed),
        );
        check(
            "alert_store_errors",
            "alert-store",
            Kind::StoreFailing,
            self.stats.store_errors.load(Relaxed),
        );
        out
    }

    /// Writes what changed; only a written change is streamed. Returns whether it wrote.
    fn persist(&mut self) -> bool {
        let (alerts, incidents, silences, next) = {
            let mut book = lock(&self.book);
            let (a, i) = book.take_dirty();
            (a, i, book.take_silences(), book.next_ids())
        };
        if alerts.is_empty() && incidents.is_empty() && silences.is_none() {
            return false;
        }
        if let Err(e) = self
            .store
            .write(&alerts, &incidents, silences.as_deref(), next)
        {
            let n = self.stats.store_errors.fetch_add(1, Relaxed);
            if n.is_multiple_of(100) {
                tracing::warn!(error = %e, "alert store: write failed; will retry");
            }
            let mut book = lock(&self.book);
            book.redirty(&alerts, &incidents);
            if silences.is_some() {
                book.redirty_silences();
            }
            drop(book);
            std::thread::sleep(Duration::from_millis(500));
            return false;
        }
        if let Some(m) = &self.faults.mirror {
            for a in &alerts {
                m.send(crate::store::Op::Alert(Box::new(crate::store::AlertRow {
                    id: a.id,
                    kind: a.kind.as_str(),
                    subject: a.subject.clone(),
                    state: a.state.as_str(),
                    owed: a.delivery.values().any(|d| d.owed()),
                    last_seen: a.last_seen,
                    body: serde_json::to_string(a).unwrap_or_default(),
                })));
            }
            for i in &incidents {
                m.send(crate::store::Op::Incident(Box::new(
                    crate::store::IncidentRow {
                        id: i.id,
                        state: i.state.as_str(),
                        last_seen: i.last_seen,
                        body: serde_json::to_string(i).unwrap_or_default(),
                    },
                )));
            }
        }
        for a in &alerts {
            let _ = self.stream.send(Arc::from(a.to_json().to_string()));
        }
        true
    }

    /// Offers each sink the stored alerts it is owed, as many as its queue takes.
    fn dispatch(&self) {
        for (name, tx) in &self.sinks {
            let room = tx.capacity();
            if room == 0 {
                continue;
            }
            let ids = lock(&self.book).owed(name, room);
            for id in ids {
                if tx.try_send(id).is_err() {
                    lock(&self.book).release(name, id);
                }
            }
        }
    }
}
