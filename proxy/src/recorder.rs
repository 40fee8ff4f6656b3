//! The recorder pipeline: the bounded queue from the data path to the recorder task, and what
//! that task does with each record, off the data path: access log, security events, analysis
//! (graph, templates, baselines, findings), span and metric export, alerts, the store, and the
//! recent calls the API lists. A full queue drops the record and counts the drop instead of
//! waiting.

use crate::analysis::engine::{Analysis, Finding};
use crate::clock::{self, Dating};
use crate::config::RecordingConfig;
use crate::record::events::{self, Events};
use crate::record::{CallRecord, Counters, KeptCall, RecordSink, ServiceCounters};
use crate::telemetry::Telemetry;
use crate::trace::hex;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

mod recent;

pub use recent::{finds, service_selects, RecentCalls};

/// Takes finished calls from the data path without ever waiting.
#[derive(Debug)]
pub struct Recorder {
    counters: Arc<Counters>,
    tx: mpsc::Sender<Arc<CallRecord>>,
    /// Asks the task to handle every queued record and hand the store what it holds.
    flush: mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
    capacity: usize,
    recent: Arc<RecentCalls>,
    analysis: Arc<Mutex<Analysis>>,
    store: Option<crate::store::Store>,
    telemetry: Arc<Telemetry>,
}

/// How often the recorder task takes the queued records. The data path only queues: it
/// never wakes the task (nor, through it, a parked worker thread) for each call.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(10);

/// Records handled between yields to the connections' tasks.
const DRAIN_SLICE: usize = 32;

/// The share of the queue (1/n of its capacity) past which the recorder stops yielding until
/// the backlog is back under it. A yielded task runs again only once per scheduler round, so
/// connections that finish many calls per poll (HTTP/2 streams run on their connection's
/// task) could otherwise outpace it on one worker until the queue overflows; past this mark the
/// recorder takes the CPU it needs and no record is dropped while the worker can keep up.
const YIELD_BELOW_SHARE: usize = 16;

/// How often nodes' last-seen times and baselines are written to the store.
const SNAPSHOT: std::time::Duration = std::time::Duration::from_secs(60);

/// How often the analysis closes minutes without traffic (so silence is noticed).
const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// The fastest tick, for compressed steps.
const MIN_TICK: std::time::Duration = std::time::Duration::from_millis(5);

impl Recorder {
    /// Starts the recorder task on the current runtime; it ends when the recorder is dropped.
    #[cfg(test)]
    pub(crate) fn start(
        config: &RecordingConfig,
        counters: Arc<Counters>,
        analysis: Analysis,
        store: Option<crate::store::Store>,
    ) -> Arc<Recorder> {
        Recorder::start_with_alerts(config, counters, analysis, store, None)
    }

    /// [`Recorder::start`], handing every security event and finding to `alerts`.
    #[cfg(test)]
    pub(crate) fn start_with_alerts(
        config: &RecordingConfig,
        counters: Arc<Counters>,
        analysis: Analysis,
        store: Option<crate::store::Store>,
        alerts: Option<crate::alerts::Alerts>,
    ) -> Arc<Recorder> {
        let telemetry = Telemetry::disabled(&Default::default());
        Recorder::start_with(config, counters, analysis, store, alerts, telemetry)
    }

    /// Starts the recorder task on the current runtime, handing every security event and
    /// finding to `alerts`, with span and metric export; it ends when the recorder is dropped.
    pub fn start_with(
        config: &RecordingConfig,
        counters: Arc<Counters>,
        analysis: Analysis,
        store: Option<crate::store::Store>,
        alerts: Option<crate::alerts::Alerts>,
        telemetry: Telemetry,
    ) -> Arc<Recorder> {
        let telemetry = Arc::new(telemetry);
        let (tx, rx) = mpsc::channel(config.queue);
        let recent = Arc::new(RecentCalls::new(config.recent_calls));
        let analysis = Arc::new(Mutex::new(analysis));
        let task = Task {
            recent: recent.clone(),
            counters: counters.clone(),
            analysis: analysis.clone(),
            access_log: config.access_log,
            events: Events::default(),
            store: store.clone(),
            last_snapshot: std::time::Instant::now(),
            telemetry: telemetry.clone(),
            alerts,
            slice: Vec::with_capacity(DRAIN_SLICE),
        };
        let (flush, flush_rx) = mpsc::channel(1);
        tokio::spawn(task.run(rx, flush_rx));
        Arc::new(Recorder {
            counters,
            tx,
            flush,
            capacity: config.queue,
            recent,
            analysis,
            store,
            telemetry,
        })
    }

    /// Span export and the per-edge series.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The store's health, when there is a store.
    pub fn store(&self) -> Option<&crate::store::Store> {
        self.store.as_ref()
    }

    /// The analysis state (graph, templates, baselines, findings). Locked briefly by the
    /// recorder task per record; readers should not hold it long either.
    pub fn analysis(&self) -> std::sync::MutexGuard<'_, Analysis> {
        self.analysis.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the call exactly, then queues its record; a full queue drops the record and
    /// counts the drop.
    pub fn record(&self, service: &ServiceCounters, rec: Arc<CallRecord>) {
        self.counters.observe(service, &rec);
        match self.tx.try_send(rec) {
            Ok(()) => {
                self.counters.records_queued.fetch_add(1, Relaxed);
            }
            Err(_) => {
                self.counters.records_dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Records waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.capacity.saturating_sub(self.tx.capacity())
    }

    /// On shutdown, once no call is in flight: handles every queued record, hands the store
    /// the totals of the minute under way, the nodes and the baselines, sends the queued spans,
    /// and waits for the store and the collector to take them, all within `within`. Returns
    /// whether everything landed in time.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let (done, handled) = tokio::sync::oneshot::channel();
        let asked = tokio::time::timeout_at(deadline, self.flush.send(done)).await;
        let task = matches!(asked, Ok(Ok(())))
            && matches!(tokio::time::timeout_at(deadline, handled).await, Ok(Ok(())));
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let spans = self.telemetry.flush(left).await;
        let Some(store) = &self.store else {
            return task && spans;
        };
        while store.stats.pending.load(Relaxed) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task && spans
    }

    /// The queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// The recent calls kept for the API.
    pub fn recent(&self) -> &RecentCalls {
        &self.recent
    }
}

impl RecordSink for Recorder {
    fn record(&self, service: &ServiceCounters, rec: Arc<CallRecord>) {
        Recorder::record(self, service, rec);
    }
}

/// The recorder task: access log, events, analysis, recent calls.
struct Task {
    recent: Arc<RecentCalls>,
    counters: Arc<Counters>,
    analysis: Arc<Mutex<Analysis>>,
    access_log: bool,
    events: Events,
    store: Option<crate::store::Store>,
    last_snapshot: std::time::Instant,
    telemetry: Arc<Telemetry>,
    alerts: Option<crate::alerts::Alerts>,
    /// The records of the slice being drained (kept for its allocation).
    slice: Vec<Arc<CallRecord>>,
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Arc<CallRecord>>,
        mut flush: mpsc::Receiver<tokio::sync::oneshot::Sender<()>>,
    ) {
        // Compressed steps (demos, tests) need a faster tick to close them on time.
        let step = self.lock().step();
        let mut tick = tokio::time::interval(TICK.min(step / 4).max(MIN_TICK));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain = tokio::time::interval(DRAIN);
        drain.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = drain.tick() => {
                    if !self.drain(&mut rx).await {
                        return;
                    }
                },
                _ = tick.tick() => {
                    let now = std::time::SystemTime::now();
                    let found = self.lock().advance_now();
                    self.found(found);
                    self.store_minutes(now);
                    self.snapshot();
                }
                Some(done) = flush.recv() => {
                    let dating = Dating::now();
                    while let Ok(rec) = rx.try_recv() {
                        self.handle(rec, &dating);
                    }
                    let now = std::time::SystemTime::now();
                    let found = self.lock().advance_now();
                    self.found(found);
                    self.store_minutes(now);
                    self.last_snapshot = std::time::Instant::now() - SNAPSHOT;
                    self.snapshot();
                    let _ = done.send(());
                }
            }
        }
    }

    /// Handles every record queued; false once the data path's side is gone. Takes them
    /// [`DRAIN_SLICE`] at a time (the queue's permits go back once per slice, not per record)
    /// and yields between slices, so a long backlog does not hold a worker thread from the
    /// connections, but not while the backlog is past [`YIELD_BELOW_SHARE`] of the queue.
    /// The records of a slice are dated by one wall-clock reading.
    async fn drain(&mut self, rx: &mut mpsc::Receiver<Arc<CallRecord>>) -> bool {
        let mut slice = std::mem::take(&mut self.slice);
        let open = loop {
            // Polled with a waker that does nothing: the data path never wakes this task (see
            // `DRAIN`). Outside the scheduling budget, so only the yields here give the worker
            // up, and none past the mark.
            let taken = std::pin::pin!(tokio::task::unconstrained(std::future::poll_fn(|cx| {
                rx.poll_recv_many(cx, &mut slice, DRAIN_SLICE)
            })))
            .poll(&mut Context::from_waker(Waker::noop()));
            match taken {
                Poll::Ready(0) => break false,
                Poll::Ready(n) => {
                    let dating = Dating::now();
                    for rec in slice.drain(..) {
                        self.handle(rec, &dating);
                    }
                    if n == DRAIN_SLICE && rx.len() < rx.max_capacity() / YIELD_BELOW_SHARE {
                        tokio::task::yield_now().await;
                    }
                }
                Poll::Pending => break true,
            }
        };
        self.slice = slice;
        open
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Analysis> {
        self.analysis.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything done with one record, dated first by `dating` when the data path left its
    /// wall-clock time to the recorder.
    fn handle(&mut self, mut rec: Arc<CallRecord>, dating: &Dating) {
        let start = match rec.arrived {
            Some(arrived) => {
                let start = dating.unix_nanos(arrived);
                Arc::make_mut(&mut rec).start = clock::from_nanos(start);
                start
            }
            None => clock::unix_nanos(rec.start),
        };
        if self.access_log {
            log(&rec);
        }
        for event in self.events.observe(&rec) {
            events::log(&event, &rec);
            if let Some(alerts) = &self.alerts {
                alerts.event(&event, &rec);
            }
        }
        self.counters
            .client_event_evictions
            .store(self.events.cause_evictions(), Relaxed);
        let (found, template) = {
            let mut a = self.lock();
            let found = a.observe_dated(&rec, start);
            (found, a.last_template())
        };
        self.found(found);
        // A request inside an inspected tunnel has no inbound route: its route is the template
        // its endpoint is known by.
        if rec.protocol == crate::record::Protocol::Inspected && rec.route.is_none() {
            Arc::make_mut(&mut rec).route = template.clone();
        }
        self.telemetry.observe(&rec, template.as_deref());
        if let Some(store) = &self.store {
            let at = start / 1_000_000_000;
            let kept = KeptCall::dated(&rec, start);
            if let Ok(json) = serde_json::to_string(&crate::record::view(0, &kept)) {
                store.send(crate::store::Op::Call { at, json });
            }
        }
        self.recent.push(&rec, start);
        self.counters.records_processed.fetch_add(1, Relaxed);
    }
}

impl Task {
    fn found(&self, found: Vec<Finding>) {
        for f in found {
            log_finding(&f);
            if let Some(alerts) = &self.alerts {
                alerts.finding(&f);
            }
            if let Some(store) = &self.store {
                match &f.evidence {
                    _ if f.kind == "new_node" => {
                        if let Some(n) = self.lock().node(&f.subject) {
                            store.send(crate::store::Op::Node(n));
                        }
                    }
                    e if f.kind == "new_edge" => store.send(crate::store::Op::Edge {
                        from: e["from"].as_str().unwrap_or_default().to_owned(),
                        to: e["to"].as_str().unwrap_or_default().to_owned(),
                        at: f.at,
                    }),
                    e if f.kind == "new_endpoint" => store.send(crate::store::Op::Endpoint {
                        node: e["node"].as_str().unwrap_or_default().to_owned(),
                        method: e["method"].as_str().unwrap_or_default().to_owned(),
                        template: e["template"].as_str().unwrap_or_default().to_owned(),
                    }),
                    _ => {}
                }
                store.send(crate::store::Op::Finding(f));
            }
        }
    }

    /// Hands the minutes' totals to the store, so the graph's windows survive a restart.
    fn store_minutes(&self, now: std::time::SystemTime) {
        let Some(store) = &self.store else { return };
        let minutes = self.lock().minutes_to_store(now);
        for (key, minute, json) in minutes {
            store.send(crate::store::Op::Minute { key, minute, json });
        }
    }

    fn snapshot(&mut self) {
        let Some(store) = &self.store else { return };
        if self.last_snapshot.elapsed() < SNAPSHOT {
            return;
        }
        self.last_snapshot = std::time::Instant::now();
        let (nodes, baselines) = {
            let a = self.lock();
            (a.nodes_snapshot(), a.baselines_snapshot())
        };
        for n in nodes {
            store.send(crate::store::Op::Node(n));
        }
        for (key, json) in baselines {
            store.send(crate::store::Op::Baseline { key, json });
        }
    }
}

fn log_finding(f: &Finding) {
    tracing::info!(
        target: "sightline::event",
        kind = %f.kind,
        subject = %f.subject,
        evidence = %f.evidence,
        "{}",
        f.kind
    );
}

fn log(rec: &CallRecord) {
    tracing::info!(
        target: "sightline::access",
        request_id = %rec.request_id,
        trace_id = %hex(&rec.trace_id),
        direction = rec.direction.as_str(),
        source = %rec.source_label(),
        service = rec.service.as_deref().unwrap_or("-"),
        upstream = rec.upstream.as_deref().unwrap_or("-"),
        method = %rec.method,
        host = %rec.host,
        path = %rec.path,
        status = rec.status.unwrap_or(0),
        error = rec.error.unwrap_or(""),
        duration_ms = rec.duration.as_secs_f64() * 1e3,
        bytes_in = rec.bytes_in,
        bytes_out = rec.bytes_out,
        protocol = rec.protocol.as_str(),
        decision = rec.decision.as_str(),
        reason = %rec.reason,
        "call"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Direction;
    use sightline_dashboard::CallQuery;

    fn record(i: u16) -> CallRecord {
        CallRecord {
            request_id: crate::trace::RequestId::from_text(&format!("r{i}")),
            service: Some("s".into()),
            status: Some(200 + i % 2 * 300),
            ..CallRecord::sample()
        }
    }

    /// Counters and a recorder with a queue of `queue` records and a ring of `recent_calls`.
    fn started(queue: usize, recent_calls: usize) -> (Arc<Counters>, Arc<Recorder>) {
        let counters = Arc::new(Counters::default());
        let config = RecordingConfig {
            queue,
            recent_calls,
            max_path_bytes: 100,
            access_log: false,
        };
        let analysis = Analysis::new(Default::default());
        let recorder = Recorder::start(&config, counters.clone(), analysis, None);
        (counters, recorder)
    }

    // On the current-thread runtime the recorder task cannot run until the test yields, so the
    // queue fills deterministically.
    #[tokio::test]
    async fn a_full_queue_drops_records_but_counts_every_call() {
        let (counters, recorder) = started(4, 100);
        let svc = counters.service(Direction::Inbound, "s");
        for i in 0..10 {
            recorder.record(&svc, Arc::new(record(i)));
        }
        assert_eq!(svc.total(), 10, "counters are exact even when records drop");
        assert_eq!(counters.records_queued.load(Relaxed), 4);
        assert_eq!(counters.records_dropped.load(Relaxed), 6);
        assert_eq!(recorder.queue_depth(), 4);
        while counters.records_processed.load(Relaxed) < 4 {
            tokio::task::yield_now().await;
        }
        assert_eq!(recorder.queue_depth(), 0);
        let q = CallQuery {
            limit: 100,
            ..CallQuery::default()
        };
        let (calls, next) = recorder.recent().query(&q);
        assert_eq!(calls.len(), 4);
        assert_eq!(next, None);
        assert_eq!(calls[0].1.request_id(), "r3", "newest first");
    }

    // The data path reads no wall clock: a record that arrived at a monotonic reading is
    // dated by the recorder to the wall-clock time of that reading.
    #[tokio::test]
    async fn the_recorder_dates_each_record_from_its_arrival() {
        let (counters, recorder) = started(10, 10);
        let svc = counters.service(Direction::Inbound, "s");
        let before = std::time::SystemTime::now();
        let rec = CallRecord {
            start: std::time::UNIX_EPOCH,
            arrived: Some(crate::clock::Mono::now()),
            ..record(1)
        };
        recorder.record(&svc, Arc::new(rec));
        while counters.records_processed.load(Relaxed) < 1 {
            tokio::task::yield_now().await;
        }
        let after = std::time::SystemTime::now();
        let q = CallQuery {
            limit: 10,
            ..CallQuery::default()
        };
        let (calls, _) = recorder.recent().query(&q);
        let start = calls[0].1.start();
        // A millisecond either way for the two clocks' rates, should NTP slew them apart.
        let slack = std::time::Duration::from_millis(1);
        assert!(
            start + slack >= before && start <= after + slack,
            "{start:?} not in {before:?}..{after:?}"
        );
    }

    #[tokio::test]
    async fn the_ring_keeps_the_newest_and_pages() {
        let (counters, recorder) = started(100, 5);
        let svc = counters.service(Direction::Inbound, "s");
        for i in 0..8 {
            recorder.record(&svc, Arc::new(record(i)));
        }
        while counters.records_processed.load(Relaxed) < 8 {
            tokio::task::yield_now().await;
        }
        let mut q = CallQuery {
            limit: 2,
            ..CallQuery::default()
        };
        let (page, next) = recorder.recent().query(&q);
        let ids: Vec<_> = page.iter().map(|(_, r)| r.request_id()).collect();
        assert_eq!(ids, ["r7", "r6"]);
        q.before = next;
        q.status = Some("5xx".into());
        let (page, _) = recorder.recent().query(&q);
        let ids: Vec<_> = page.iter().map(|(_, r)| r.request_id()).collect();
        assert_eq!(ids, ["r5", "r3"]);
    }
}
