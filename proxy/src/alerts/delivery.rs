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

/// What one attempt at a job came to.
enum Step {
    /// Done with this alert (delivered, delivered elsewhere, or owed no more).
    Done,
    /// Try again after the backoff.
    Again,
    /// Stopping.
    Stop,
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
                match self.attempt(id, &mut stop).await {
                    Step::Done => break,
                    Step::Stop => return,
                    Step::Again => {
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

    /// One try at delivering alert `id` as it is now.
    async fn attempt(&mut self, id: u64, stop: &mut watch::Receiver<bool>) -> Step {
        let Some(alert) = lock(&self.book).deliverable(&self.name, id) else {
            lock(&self.book).done(&self.name, id);
            return Step::Done;
        };
        let phase = match alert.state {
            super::model::State::Resolved => "resolved",
            _ => "open",
        };
        // Renewed at every try, so it outlives the longest wait between two.
        let stale = ((self.timeout + self.max_backoff) * 2).max(CLAIM_STALE_MIN);
        match claim(self.claims.as_deref(), &self.name, &alert, phase, stale).await {
            Claim::Theirs => {
                // Another instance of the fleet delivered this one.
                lock(&self.book).delivered(&self.name, id, alert.version);
                return Step::Done;
            }
            // Another instance is delivering it; it stays owed here until that instance
            // reports it delivered, or stops renewing its claim.
            Claim::Pending => return Step::Again,
            Claim::Mine | Claim::Unknown => {}
        }
        let attempt = tokio::time::timeout(self.timeout, self.sink.send(&alert));
        let result = tokio::select! {
            r = attempt => r.unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout))),
            _ = stop.changed() => return Step::Stop,
        };
        match result {
            Ok(()) => {
                if let Some(fleet) = &self.claims {
                    fleet
                        .delivered(&self.name, alert.kind.as_str(), &alert.subject, phase)
                        .await;
                }
                lock(&self.book).delivered(&self.name, id, alert.version);
                if let Some(s) = self.stats.sink(&self.name) {
                    s.delivered.fetch_add(1, Relaxed);
                }
                let _ = self.intake.try_send(Msg::Wake);
                Step::Done
            }
            Err(e) => {
                self.failed(&alert, e);
                Step::Again
            }
        }
    }

    /// Records a failed attempt; the third in a row raises a `sink_failing` alert (unless the
    /// alert is that one).
    fn failed(&self, alert: &super::model::Alert, e: String) {
        let id = alert.id;
        let n = lock(&self.book).failed(&self.name, id, e.clone());
        if let Some(s) = self.stats.sink(&self.name) {
            s.failed.fetch_add(1, Relaxed);
        }
        if n == 1 || n.is_multiple_of(20) {
            tracing::warn!(sink = %self.name, alert = id, failures = n, error = %e, "alert delivery failed; will retry");
        }
        let about_itself = alert.kind == Kind::SinkFailing && alert.subject == self.name;
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
    }
}

/// The fleet-wide claim of `sink` on delivering the alert in this phase; [`Claim::Mine`]
/// without a fleet.
async fn claim(
    fleet: Option<&dyn Claims>,
    sink: &str,
    alert: &super::model::Alert,
    phase: &str,
    stale: Duration,
) -> Claim {
    let Some(fleet) = fleet else {
        return Claim::Mine;
    };
    let json = alert.to_json().to_string();
    fleet
        .claim(
            sink,
            alert.kind.as_str(),
            &alert.subject,
            phase,
            &json,
            stale,
        )
        .await
}
