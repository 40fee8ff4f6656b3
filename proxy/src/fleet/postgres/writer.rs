//! The writer task: takes the store's operations off the bounded queue and writes them in
//! batches; holds a failed batch and retries it (catch-up once the database is back), and
//! prunes old calls once a minute.

use super::{pg, schema, Postgres, BACKOFF, BATCH, ROUND};
use crate::store::{Op, StoreStats};
use schema::Queued;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The writer task's state.
pub(super) struct Writer {
    pub(super) pg: Arc<Postgres>,
    pub(super) stats: Arc<StoreStats>,
    pub(super) boot: i64,
    pub(super) next: i64,
    /// The batch a failed write left, written first once the database is back.
    pub(super) held: Vec<Queued>,
    pub(super) last_prune: Instant,
}

impl Writer {
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        loop {
            let mut batch = std::mem::take(&mut self.held);
            let mut closed = false;
            if batch.is_empty() {
                match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
                    Ok(Some(op)) => batch.push(self.queued(op)),
                    Ok(None) => closed = true,
                    Err(_) => {}
                }
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(self.queued(op)),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.write(batch).await;
            }
            if closed && self.held.is_empty() {
                return;
            }
            if closed {
                // The last writes get a few more tries after the senders are gone.
                for _ in 0..3 {
                    let batch = std::mem::take(&mut self.held);
                    if batch.is_empty() {
                        break;
                    }
                    self.write(batch).await;
                }
                let lost = self.held.len() as u64;
                self.stats.dropped.fetch_add(lost, Relaxed);
                self.stats.pending.fetch_sub(lost, Relaxed);
                return;
            }
            if self.last_prune.elapsed() > Duration::from_secs(60) {
                self.last_prune = Instant::now();
                self.prune().await;
            }
        }
    }

    fn queued(&mut self, op: Op) -> Queued {
        match op {
            Op::Call { at, json } => {
                self.next += 1;
                Queued::Call {
                    n: self.next,
                    at,
                    json,
                }
            }
            op => Queued::Other(op),
        }
    }

    async fn write(&mut self, batch: Vec<Queued>) {
        let n = batch.len() as u64;
        let pg = self.pg.clone();
        let attempt = async {
            let mut client = pg.client().await?;
            schema::write(&mut client, &pg.settings.instance, self.boot, &batch)
                .await
                .map_err(schema::pg)
        };
        let result = match tokio::time::timeout(ROUND, attempt).await {
            Ok(r) => r,
            Err(_) => Err("no answer".to_owned()),
        };
        match result {
            Ok(()) => {
                self.pg.ok();
                self.stats.written.fetch_add(n, Relaxed);
                self.stats.pending.fetch_sub(n, Relaxed);
            }
            Err(e) => {
                self.pg.failed(&e);
                let errors = self.stats.errors.fetch_add(1, Relaxed);
                if errors.is_power_of_two() {
                    tracing::warn!(error = %e, ops = n, "shared store write failed; will retry");
                }
                self.held = batch;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }

    async fn prune(&self) {
        let s = &self.pg.settings;
        let run = async {
            let client = self.pg.client().await?;
            schema::prune(&client, &s.instance, s.retention.as_secs(), s.max_calls)
                .await
                .map_err(pg)
        };
        if !matches!(tokio::time::timeout(ROUND * 4, run).await, Ok(Ok(()))) {
            self.stats.errors.fetch_add(1, Relaxed);
        }
    }
}
