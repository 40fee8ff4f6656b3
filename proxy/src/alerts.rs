//! Alerts: every security event, analysis finding and fault of Sightline itself becomes a
//! signal; signals with the same kind and subject count into one alert while it is not
//! resolved; alerts touching the same node within a window form an incident; an alert without
//! repeats for the quiet period resolves itself.
//!
//! The path: the recorder task hands signals over a bounded queue (a full queue drops and
//! counts) to the alert thread, which keeps the [`book::Book`], writes every change to the
//! SQLite store first, then streams it to SSE subscribers and offers each sink what it is
//! owed. Each sink runs in its own task and retries until its receiver takes the alert; what a
//! sink is owed is part of the stored alert, so a receiver that is down gets it when it is
//! back, across a restart too.

pub mod book;
mod delivery;
mod engine;
pub mod intake;
pub mod metrics;
pub mod model;
pub mod sinks;
mod store;
pub mod stream;

use crate::analysis::engine::Finding;
use crate::config::alerts::AlertsConfig;
use crate::record::events::Event;
use crate::record::queue::{channel as sync_channel, Sender as SyncSender, TrySendError};
use crate::record::CallRecord;
pub use delivery::{Claim, ClaimFuture, Claims};
pub use engine::Faults;
use model::{Kind, Severity, Signal, State};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, mpsc, watch};

/// Signals queued between the recorder task and the alert thread.
pub const INTAKE: usize = 65_536;
/// Alert ids queued per sink.
const SINK_QUEUE: usize = 256;

/// What crosses the intake queue.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Count this.
    Signal(Signal),
    /// Something changed in the book (a delivery, an acknowledgement): write it soon.
    Wake,
}

/// Per-sink delivery counters.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Deliveries the receiver took.
    pub delivered: AtomicU64,
    /// Attempts that failed (each retried).
    pub failed: AtomicU64,
}

/// Pipeline counters, for metrics.
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Signals counted.
    pub raised: AtomicU64,
    /// Signals dropped because the intake queue was full.
    pub dropped: AtomicU64,
    /// Events and findings no alert kind maps.
    pub unmapped: AtomicU64,
    /// Signals dropped because too many alerts were open.
    pub overflow: AtomicU64,
    /// Failed writes of the alert tables (each retried).
    pub store_errors: AtomicU64,
    /// SSE changes skipped by subscribers too slow to keep up.
    pub stream_lagged: Arc<AtomicU64>,
    /// Per sink, in config order.
    pub sinks: Vec<(String, SinkStats)>,
}

impl AlertStats {
    /// One sink's counters.
    pub fn sink(&self, name: &str) -> Option<&SinkStats> {
        self.sinks.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// Filters of `GET /api/alerts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only this state.
    pub state: Option<State>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only at least this severe.
    pub severity: Option<Severity>,
    /// At most this many alerts (newest first).
    pub limit: usize,
}

struct Inner {
    tx: SyncSender<Msg>,
    book: Arc<Mutex<Book>>,
    stats: Arc<AlertStats>,
    stream: broadcast::Sender<Arc<str>>,
    stop_sinks: watch::Sender<bool>,
    stop_engine: Arc<AtomicBool>,
    engine: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The handle to the alert pipeline: cheap to clone, never waits.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

use book::{Book, BookSettings, Route};

pub(crate) fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|p| p.into_inner())
}

/// The longest silence.
pub const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
#[error("alert store {file}: {source}")]
pub struct AlertStoreError {
    /// The database file (or `memory`).
    pub file: String,
    /// The cause.
    #[source]
    pub source: rusqlite::Error,
}

impl Alerts {
    /// Starts the alert thread and one task per sink (needs a tokio runtime). Alerts are kept
    /// in the store's database under `store_dir`, or in memory without one.
    pub fn start(
        config: &AlertsConfig,
        store_dir: Option<&Path>,
        faults: Faults,
    ) -> Result<Alerts, AlertStoreError> {
        let clock = Arc::new(sightline_policy::clients::SystemClock);
        Alerts::start_with_clock(config, store_dir, faults, clock)
    }

    /// [`Alerts::start`] on `clock`, the clock the analysis reads: quiet alerts resolve when
    /// it has moved a quiet period past their last signal, so findings stamped by a clock held
    /// behind the wall clock are judged on their own timeline.
    pub fn start_with_clock(
        config: &AlertsConfig,
        store_dir: Option<&Path>,
        faults: Faults,
        clock: Arc<dyn sightline_policy::clients::Clock>,
    ) -> Result<Alerts, AlertStoreError> {
        let file = store_dir.map(crate::store::db_file);
        let name = file
            .as_ref()
            .map_or("memory".to_owned(), |f| f.display().to_string());
        let err = |source| AlertStoreError {
            file: name.clone(),
            source,
        };
        if let Some(dir) = store_dir {
            let _ = std::fs::create_dir_all(dir);
        }
        let store = store::AlertStore::open(file.as_deref()).map_err(err)?;
        let book = Arc::new(Mutex::new(restored_book(config, &store).map_err(err)?));
        let stats = Arc::new(AlertStats {
            sinks: config
                .sinks
                .iter()
                .map(|s| (s.name.clone(), SinkStats::default()))
                .collect(),
            ..AlertStats::default()
        });
        let (tx, rx) = sync_channel(INTAKE);
        let (stream, _) = broadcast::channel(stream::BUFFER);
        let (stop_sinks, stop_rx) = watch::channel(false);
        let sinks = spawn_sinks(config, &book, &tx, &stats, &faults, &stop_rx);
        let stop_engine = Arc::new(AtomicBool::new(false));
        let engine = engine::Engine {
            book: book.clone(),
            store,
            rx,
            sinks,
            stream: stream.clone(),
            stats: stats.clone(),
            faults,
            stop: stop_engine.clone(),
            clock,
            seen: Default::default(),
        };
        let handle = std::thread::Builder::new()
            .name("sightline-alerts".into())
            .spawn(move || engine.run())
            .map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        Ok(Alerts {
            inner: Arc::new(Inner {
                tx,
                book,
                stats,
                stream,
                stop_sinks,
                stop_engine,
                engine: Mutex::new(Some(handle)),
            }),
        })
    }

    /// A pipeline that counts every signal as dropped (when no database can open at all).
    pub fn disabled() -> Alerts {
        let (tx, _) = sync_channel(1);
        let (stream, _) = broadcast::channel(1);
        let (stop_sinks, _) = watch::channel(true);
        Alerts {
            inner: Arc::new(Inner {
                tx,
                book: Arc::new(Mutex::new(Book::new(BookSettings {
                    severities: BTreeMap::new(),
                    quiet_ms: 0,
                    window_ms: 0,
                    routes: Vec::new(),
                }))),
                stats: Arc::default(),
                stream,
                stop_sinks,
                stop_engine: Arc::new(AtomicBool::new(true)),
                engine: Mutex::new(None),
            }),
        }
    }

    /// Queues a signal without waiting; a full queue drops it and counts the drop.
    pub fn raise(&self, s: Signal) {
        match self.inner.tx.try_send(Msg::Signal(s)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.inner.stats.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Queues the signal of a security event.
    pub fn event(&self, event: &Event, rec: &CallRecord) {
        match intake::event(event, rec) {
            Some(s) => self.raise(s),
            None => {
                self.inner.stats.unmapped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Queues the signal of an analysis finding.
    pub fn finding(&self, f: &Finding) {
        match intake::finding(f) {
            Some(s) => self.raise(s),
            None => {
                self.inner.stats.unmapped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Alerts (newest first) and incidents, as `GET /api/alerts` shows them.
    pub fn list(&self, q: &AlertQuery) -> serde_json::Value {
        let (alerts, incidents) =
            self.list_with(q, model::Alert::to_json, model::Incident::to_json);
        serde_json::json!({ "alerts": alerts, "incidents": incidents })
    }

    /// Alerts (newest first) matching `q` and incidents (newest first), each shown by `alert`
    /// and `incident`.
    pub fn list_with<A, I>(
        &self,
        q: &AlertQuery,
        alert: impl Fn(&model::Alert) -> A,
        incident: impl Fn(&model::Incident) -> I,
    ) -> (Vec<A>, Vec<I>) {
        let book = lock(&self.inner.book);
        let limit = if q.limit == 0 { 100 } else { q.limit };
        let alerts = book
            .alerts()
            .filter(|a| q.state.is_none_or(|s| a.state == s))
            .filter(|a| q.kind.is_none_or(|k| a.kind == k))
            .filter(|a| q.severity.is_none_or(|s| a.severity >= s))
            .take(limit)
            .map(alert)
            .collect();
        let incidents = book.incidents().take(limit).map(incident).collect();
        (alerts, incidents)
    }

    /// One alert as JSON.
    pub fn get(&self, id: u64) -> Option<serde_json::Value> {
        lock(&self.inner.book).get(id).map(model::Alert::to_json)
    }

    /// Acknowledges an alert and shows it with `view`; `None` when there is no such alert.
    pub fn acknowledge_with<T>(&self, id: u64, view: impl Fn(&model::Alert) -> T) -> Option<T> {
        let shown = lock(&self.inner.book).acknowledge(id).map(view);
        let _ = self.inner.tx.try_send(Msg::Wake);
        shown
    }

    /// Resolves an alert by hand, snoozing it for [`book::SNOOZE_MS`] (repeats meanwhile count
    /// on it), and shows it with `view`; `None` when there is no such alert.
    pub fn resolve_with<T>(&self, id: u64, view: impl Fn(&model::Alert) -> T) -> Option<T> {
        let shown = lock(&self.inner.book)
            .resolve_by_hand(id, now_ms())
            .map(view);
        let _ = self.inner.tx.try_send(Msg::Wake);
        shown
    }

    /// Opens an acknowledged or resolved alert again (an undo) and shows it with `view`;
    /// `None` when there is no such alert.
    pub fn reopen_with<T>(&self, id: u64, view: impl Fn(&model::Alert) -> T) -> Option<T> {
        let shown = lock(&self.inner.book).reopen(id).map(view);
        let _ = self.inner.tx.try_send(Msg::Wake);
        shown
    }

    /// The silences, newest first, each shown by `view` (with now in unix milliseconds).
    pub fn silences_with<T>(&self, view: impl Fn(&model::Silence, u64) -> T) -> Vec<T> {
        let now = now_ms();
        lock(&self.inner.book)
            .silences()
            .map(|s| view(s, now))
            .collect()
    }

    /// Silences `kind` (about `subject`, or any) until `until` (unix milliseconds) and shows the
    /// silence with `view`; `Err` when too many are in force.
    pub fn silence_with<T>(
        &self,
        kind: Kind,
        subject: Option<String>,
        until: u64,
        reason: String,
        view: impl Fn(&model::Silence, u64) -> T,
    ) -> Result<T, String> {
        let now = now_ms();
        let shown = lock(&self.inner.book)
            .silence(kind, subject, until, reason, now)
            .map(|s| view(&s, now));
        let _ = self.inner.tx.try_send(Msg::Wake);
        shown
    }

    /// Ends a silence and shows it with `view`; `None` when there is no such silence.
    pub fn unsilence_with<T>(
        &self,
        id: u64,
        view: impl Fn(&model::Silence, u64) -> T,
    ) -> Option<T> {
        let shown = lock(&self.inner.book)
            .unsilence(id)
            .map(|s| view(&s, now_ms()));
        let _ = self.inner.tx.try_send(Msg::Wake);
        shown
    }

    /// A subscription to alert changes (JSON per change).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.stream.subscribe()
    }

    /// The SSE response body for a new subscriber.
    pub fn stream_body(
        &self,
    ) -> http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible> {
        stream::body(
            self.subscribe(),
            self.inner.stop_sinks.subscribe(),
            self.inner.stats.stream_lagged.clone(),
        )
    }

    /// The counters.
    pub fn stats(&self) -> &AlertStats {
        &self.inner.stats
    }

    /// Alerts not resolved, and deliveries owed per sink.
    pub fn gauges(&self) -> (usize, BTreeMap<String, u64>) {
        let book = lock(&self.inner.book);
        (book.live_count(), book.owed_counts())
    }

    /// Stops the sinks and the alert thread after a last write of what changed.
    pub async fn stop(&self) {
        let _ = self.inner.stop_sinks.send(true);
        self.inner
            .stop_engine
            .store(true, std::sync::atomic::Ordering::Release);
        let _ = self.inner.tx.try_send(Msg::Wake);
        let handle = self
            .inner
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    /// Asks the sinks and the alert thread to stop without waiting.
    pub fn stop_now(&self) {
        let _ = self.inner.stop_sinks.send(true);
        self.inner
            .stop_engine
            .store(true, std::sync::atomic::Ordering::Release);
        let _ = self.inner.tx.try_send(Msg::Wake);
    }
}

/// The book with what the store kept: alerts, incidents and silences.
fn restored_book(config: &AlertsConfig, store: &store::AlertStore) -> rusqlite::Result<Book> {
    let stored = store.load()?;
    let routes = config
        .sinks
        .iter()
        .map(|s| Route {
            sink: s.name.clone(),
            kinds: s.kinds.clone(),
            min_severity: s.min_severity,
            refresh_ms: matches!(
                s.target,
                crate::config::alerts::SinkTarget::Alertmanager { .. }
            )
            .then_some(sinks::alertmanager::REFRESH.as_millis() as u64),
        })
        .collect();
    let mut book = Book::new(BookSettings {
        severities: config.severities.clone(),
        quiet_ms: config.quiet_period.as_millis() as u64,
        window_ms: config.incident_window.as_millis() as u64,
        routes,
    });
    book.restore(stored.alerts, stored.incidents, stored.next);
    book.restore_silences(stored.silences);
    Ok(book)
}

/// One delivery task per configured sink; returns each sink's job queue.
fn spawn_sinks(
    config: &AlertsConfig,
    book: &Arc<Mutex<Book>>,
    intake: &SyncSender<Msg>,
    stats: &Arc<AlertStats>,
    faults: &Faults,
    stop: &watch::Receiver<bool>,
) -> Vec<(String, mpsc::Sender<u64>)> {
    let mut sinks = Vec::new();
    for s in &config.sinks {
        let (jobs_tx, jobs_rx) = mpsc::channel(SINK_QUEUE);
        sinks.push((s.name.clone(), jobs_tx));
        let d = delivery::Delivery {
            name: s.name.clone(),
            sink: sinks::Sink::build(s),
            timeout: s.timeout,
            max_backoff: s.max_backoff,
            book: book.clone(),
            intake: intake.clone(),
            stats: stats.clone(),
            claims: faults.claims.clone(),
        };
        tokio::spawn(d.run(jobs_rx, stop.clone()));
    }
    sinks
}

#[cfg(test)]
mod tests;
