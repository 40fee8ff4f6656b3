//! One task per sink: takes owed alert ids, sends the alert as it is now, retries with
//! doubling backoff until the receiver takes it, and records the outcome in the book. A sink
//! that keeps failing raises a `sink_failing` alert; its alerts stay owed, in the store too.

use super::book::Book;
use super::model::Kind;
use super::sinks::Sink;
use super::{intake, lock, AlertStats, Msg};
use crate::record::queue::Sender as SyncSender;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// First wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The shortest time a fleet-wide delivery claim is held without renewal.
const CLAIM_STALE_MIN: Duration = Duration::from_secs(5);
/// Failures in a row before the sink counts as failing.
const FAILING_AFTER: u32 = 3;

/// What a fleet-wide claim on delivering an alert came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This instance delivers it.
    Mine,
    /// Another instance delivered it.
    Theirs,
    /// Another instance holds it and has not delivered it yet: ask again later (it is taken
    /// over if that instance stops renewing it).
    Pending,
    /// The shared store did not answer: deliver (a repeat beats a loss).
    Unknown,
}

/// A boxed future, as the claims back-end returns.
pub type ClaimFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where the instances of a fleet claim deliveries, so each alert is sent once per fleet.
pub trait Claims: Send + Sync + std::fmt::Debug {
    /// Claims the delivery of the alert (`kind`, `subject`, in `state`) to `sink`; a claim
    /// neither delivered nor renewed for `stale` is taken over.
    fn claim<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
        alert: &'a str,
        stale: Duration,
    ) -> ClaimFuture<'a, Claim>;
    /// Marks a claimed alert delivered.
    fn delivered<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
    ) -> ClaimFuture<'a, ()>;
}

pub(super) struct Delivery {
    pub name: String,
    pub sink: Sink,
    pub timeout: Duration,
    pub max_backoff: Duration,
    pub book: Arc<Mutex<Book>>,
    pub intake: SyncSender<Msg>,
    pub stats: Arc<AlertStats>,
    /// The fleet's shared store: an alert another instance claimed is not sent again.
    pub claims: Option<Arc<dyn Claims>>,
}

impl Delivery {
    pub async fn run(mut self, mut jobs: mpsc::Receiver<u64>, mut stop: watch::Receiver<bool>) {
        loop {
            let id = tokio::select! {
                id = jobs.recv() => match id { Some(id) => id, None => return },
                _ = stop.changed() => return,
            };
            let mut backoff = FIRST_BACKOFF;
            loop {
                let Some(alert) = lock(&self.book).deliverable(&self.name, id) else {
                    lock(&self.book).done(&self.name, id);
                    break;
                };
                let phase = match alert.state {
                    super::model::State::Resolved => "resolved",
                    _ => "open",
                };
                if let Some(fleet) = &self.claims {
                    let json = alert.to_json().to_string();
                    // Renewed at every try, so it outlives the longest wait between two.
                    let stale = ((self.timeout + self.max_backoff) * 2).max(CLAIM_STALE_MIN);
                    let claim = fleet
                        .claim(
                            &self.name,
                            alert.kind.as_str(),
                            &alert.subject,
                            phase,
                            &json,
                            stale,
                        )
                        .await;
                    if claim == Claim::Theirs {
                        // Another instance of the fleet delivered this one.
                        lock(&self.book).delivered(&self.name, id, alert.version);
                        break;
                    }
                    if claim == Claim::Pending {
                        // Another instance is delivering it; it stays owed here until that
                        // instance reports it delivered, or stops renewing its claim.
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => return,
                        }
                        backoff = (backoff * 2).min(self.max_backoff.max(FIRST_BACKOFF));
                        continue;
                    }
                }
                let attempt = tokio::time::timeout(self.timeout, self.sink.send(&alert));
                let result = tokio::select! {
                    r = attempt => r.unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout))),
                    _ = stop.changed() => return,
                };
                let sink_stats = self.stats.sink(&self.name);
                match result {
                    Ok(()) => {
                        if let Some(fleet) = &self.claims {
                            fleet
                                .delivered(&self.name, alert.kind.as_str(), &alert.subject, phase)
                                .await;
                        }
                        lock(&self.book).delivered(&self.name, id, alert.version);
                        if let Some(s) = sink_stats {
                            s.delivered.fetch_add(1, Relaxed);
                        }
                        let _ = self.intake.try_send(Msg::Wake);
                        break;
                    }
                    Err(e) => {
                        let n = lock(&self.book).failed(&self.name, id, e.clone());
                        if let Some(s) = sink_stats {
                            s.failed.fetch_add(1, Relaxed);
                        }
                        if n == 1 || n.is_multiple_of(20) {
                            tracing::warn!(sink = %self.name, alert = id, failures = n, error = %e, "alert delivery failed; will retry");
                        }
                        let about_itself =
                            alert.kind == Kind::SinkFailing && alert.subject == self.name;
                        if n == FAILING_AFTER && !about_itself {
                            let signal = intake::fault(
                                Kind::SinkFailing,
                                &self.name,
                                1,
                                serde_json::json!({ "sink": self.name, "error": e, "alert": id }),
                            );
                            if self.intake.try_send(Msg::Signal(signal)).is_err() {
                                self.stats.dropped.fetch_add(1, Relaxed);
                            }
                        }
                        let _ = self.intake.try_send(Msg::Wake);
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => return,
                        }
                        backoff = (backoff * 2).min(self.max_backoff.max(FIRST_BACKOFF));
                    }
                }
            }
        }
    }
}
