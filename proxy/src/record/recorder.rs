//! The bounded queue from the data path to the recorder task, and what that task keeps.

use super::{CallRecord, Counters, ServiceCounters, StatusClass};
use crate::config::RecordingConfig;
use crate::trace::hex;
use sightline_dashboard::CallQuery;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Takes finished calls from the data path without ever waiting.
#[derive(Debug)]
pub struct Recorder {
    counters: Arc<Counters>,
    tx: mpsc::Sender<CallRecord>,
    capacity: usize,
    recent: Arc<RecentCalls>,
}

impl Recorder {
    /// Starts the recorder task on the current runtime; it ends when the recorder is dropped.
    pub fn start(config: &RecordingConfig, counters: Arc<Counters>) -> Arc<Recorder> {
        let (tx, rx) = mpsc::channel(config.queue);
        let recent = Arc::new(RecentCalls::new(config.recent_calls));
        tokio::spawn(run(rx, recent.clone(), counters.clone(), config.access_log));
        Arc::new(Recorder {
            counters,
            tx,
            capacity: config.queue,
            recent,
        })
    }

    /// Counts the call exactly, then queues its record; a full queue drops the record and
    /// counts the drop.
    pub fn record(&self, service: &ServiceCounters, rec: CallRecord) {
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

    /// The queue's capacity.
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// The recent calls kept for the API.
    pub fn recent(&self) -> &RecentCalls {
        &self.recent
    }
}

async fn run(
    mut rx: mpsc::Receiver<CallRecord>,
    recent: Arc<RecentCalls>,
    counters: Arc<Counters>,
    access_log: bool,
) {
    while let Some(rec) = rx.recv().await {
        if access_log {
            log(&rec);
        }
        recent.push(rec);
        counters.records_processed.fetch_add(1, Relaxed);
    }
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

/// The most recent calls, numbered in the order they finished.
#[derive(Debug)]
pub struct RecentCalls {
    inner: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    calls: VecDeque<(u64, Arc<CallRecord>)>,
    cap: usize,
    next_seq: u64,
}

impl RecentCalls {
    fn new(cap: usize) -> Self {
        RecentCalls {
            inner: Mutex::new(Ring {
                calls: VecDeque::with_capacity(cap.min(65_536)),
                cap,
                next_seq: 1,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, rec: CallRecord) {
        let mut ring = self.lock();
        if ring.cap == 0 {
            return;
        }
        if ring.calls.len() == ring.cap {
            ring.calls.pop_front();
        }
        let seq = ring.next_seq;
        ring.next_seq += 1;
        ring.calls.push_back((seq, Arc::new(rec)));
    }

    /// Calls matching `q`, newest first, and the cursor of the next page when there may be one.
    pub fn query(&self, q: &CallQuery) -> (Vec<(u64, Arc<CallRecord>)>, Option<u64>) {
        let ring = self.lock();
        let mut out = Vec::with_capacity(q.limit.min(1000));
        for (seq, rec) in ring.calls.iter().rev() {
            if q.before.is_some_and(|b| *seq >= b) || !matches(q, rec) {
                continue;
            }
            if out.len() == q.limit {
                let next = out.last().map(|(s, _): &(u64, _)| *s);
                return (out, next);
            }
            out.push((*seq, rec.clone()));
        }
        (out, None)
    }
}

fn matches(q: &CallQuery, rec: &CallRecord) -> bool {
    if let Some(d) = &q.direction {
        if d != rec.direction.as_str() {
            return false;
        }
    }
    if let Some(s) = &q.service {
        if rec.service.as_deref() != Some(s.as_str()) {
            return false;
        }
    }
    if let Some(d) = &q.decision {
        if d != rec.decision.as_str() {
            return false;
        }
    }
    if let Some(s) = &q.status {
        let ok = match s.parse::<u16>() {
            Ok(code) => rec.status == Some(code),
            Err(_) => StatusClass::of(rec.status).as_str() == s,
        };
        if !ok {
            return false;
        }
    }
    true
}
