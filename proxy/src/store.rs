//! The embedded store: SQLite in WAL mode on a dedicated thread, fed through a bounded queue
//! and written in batches. It keeps the graph registry (nodes first and last seen), the
//! findings, baseline snapshots, the last day of per-endpoint minute totals and a bounded raw
//! call log. The data path never waits on it:
//! a full queue drops the write and counts it; a failing disk is counted and retried.

mod bans;
pub(crate) mod rows;
mod schema;

pub use crate::analysis::engine::Restored;

use crate::analysis::engine::Finding;
use crate::analysis::graph::Node;
use crate::record::queue::{
    channel as sync_channel, Receiver, RecvTimeoutError, Sender as SyncSender, TrySendError,
};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Queue length between the recorder task and the store thread.
const QUEUE: usize = 65_536;
/// Most operations written in one transaction.
const BATCH: usize = 4_096;
/// Operations kept for a retry after a failed write; beyond that they are dropped and counted.
const RETRY_LIMIT: usize = 65_536;

pub use crate::config::StoreConfig;

/// One write.
#[derive(Debug)]
pub enum Op {
    /// A finished call, as the API's JSON.
    Call {
        /// Unix seconds.
        at: u64,
        /// The call.
        json: String,
    },
    /// A first sighting or an anomaly.
    Finding(Finding),
    /// A node, new or seen again.
    Node(Node),
    /// An edge seen for the first time.
    Edge {
        /// Caller id.
        from: String,
        /// Callee id.
        to: String,
        /// Unix seconds.
        at: u64,
    },
    /// An endpoint seen for the first time.
    Endpoint {
        /// Callee id.
        node: String,
        /// Method.
        method: String,
        /// Template.
        template: String,
    },
    /// A client banned (or banned again).
    Ban {
        /// The client id.
        client: String,
        /// The ban.
        ban: sightline_policy::clients::Ban,
    },
    /// A ban lifted by an operator.
    Unban {
        /// The client id.
        client: String,
    },
    /// One closed minute of one endpoint's traffic (the graph's windows after a restart).
    Minute {
        /// The endpoint key: caller, callee, method and template joined by U+001F.
        key: String,
        /// Unix minutes.
        minute: u64,
        /// The minute's totals, serialised.
        json: String,
    },
    /// A baseline snapshot for an endpoint key.
    Baseline {
        /// The endpoint key.
        key: String,
        /// Serialised baseline.
        json: String,
    },
    /// An alert as it changed, copied to the fleet's shared store (the embedded database
    /// keeps alerts in tables of their own and ignores it).
    Alert(Box<AlertRow>),
    /// An incident as it changed, copied to the fleet's shared store (ignored by the
    /// embedded database, like [`Op::Alert`]).
    Incident(Box<IncidentRow>),
}

/// An alert as the shared store keeps it: the fields its queries select on, and the whole
/// alert as JSON.
#[derive(Clone, Debug)]
pub struct AlertRow {
    pub id: u64,
    pub kind: &'static str,
    pub subject: String,
    pub state: &'static str,
    /// Whether a sink is still owed a delivery.
    pub owed: bool,
    pub last_seen: u64,
    pub body: String,
}

/// An incident as the shared store keeps it, like [`AlertRow`].
#[derive(Clone, Debug)]
pub struct IncidentRow {
    pub id: u64,
    pub state: &'static str,
    pub last_seen: u64,
    pub body: String,
}

/// Store health, for metrics.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Operations written.
    pub written: AtomicU64,
    /// Operations dropped because the queue or the retry buffer was full.
    pub dropped: AtomicU64,
    /// Failed batch writes (each retried).
    pub errors: AtomicU64,
    /// Operations waiting to be written (approximate).
    pub pending: AtomicU64,
}

/// The handle the recorder task writes through.
#[derive(Debug, Clone)]
pub struct Store {
    tx: Sink,
    /// Health counters.
    pub stats: Arc<StoreStats>,
}

impl Store {
    /// Opens (or creates) the database, reads what it holds, and starts the writer thread.
    pub fn open(config: &StoreConfig) -> Result<(Store, Restored), String> {
        std::fs::create_dir_all(&config.path)
            .map_err(|e| format!("{}: {e}", config.path.display()))?;
        let file = config.path.join("sightline.db");
        let conn = schema::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let restored = schema::restore(&conn).map_err(|e| format!("{}: {e}", file.display()))?;
        let (tx, rx) = sync_channel(QUEUE);
        let stats = Arc::new(StoreStats::default());
        let writer = Writer {
            conn,
            stats: stats.clone(),
            config: config.clone(),
            retry: Vec::new(),
            last_prune: Instant::now(),
        };
        std::thread::Builder::new()
            .name("sightline-store".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| format!("store thread: {e}"))?;
        Ok((
            Store {
                tx: Sink::Embedded(tx),
                stats,
            },
            restored,
        ))
    }

    /// A store whose writes go to another back-end through `tx`; that back-end keeps `stats`.
    pub fn forwarding(tx: tokio::sync::mpsc::Sender<Op>, stats: Arc<StoreStats>) -> Store {
        Store {
            tx: Sink::Forward(tx),
            stats,
        }
    }

    /// Queues a write without waiting; a full queue drops it and counts the drop.
    pub fn send(&self, op: Op) {
        // Counted before it is sent, so the writer never subtracts what was not added yet.
        self.stats.pending.fetch_add(1, Relaxed);
        let sent = match &self.tx {
            Sink::Embedded(tx) => match tx.try_send(op) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            Sink::Forward(tx) => tx.try_send(op).is_ok(),
        };
        if !sent {
            self.stats.pending.fetch_sub(1, Relaxed);
            self.stats.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Where the writes go: the embedded database's thread, or another back-end's task (the
/// fleet's shared store) that keeps the same counters.
#[derive(Debug, Clone)]
enum Sink {
    Embedded(SyncSender<Op>),
    Forward(tokio::sync::mpsc::Sender<Op>),
}

struct Writer {
    conn: Connection,
    stats: Arc<StoreStats>,
    config: StoreConfig,
    retry: Vec<Op>,
    last_prune: Instant,
}

impl Writer {
    fn run(mut self, rx: Receiver<Op>) {
        loop {
            let mut batch = std::mem::take(&mut self.retry);
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(op) => batch.push(op),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.write(batch);
                    return;
                }
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.write(batch);
            }
            if self.last_prune.elapsed() > Duration::from_secs(60) {
                self.last_prune = Instant::now();
                if let Err(e) = schema::prune(&self.conn, &self.config) {
                    self.stats.errors.fetch_add(1, Relaxed);
                    tracing::warn!(error = %e, "store: pruning the call log failed");
                }
            }
        }
    }

    fn write(&mut self, batch: Vec<Op>) {
        let n = batch.len() as u64;
        match schema::write(&mut self.conn, &batch) {
            Ok(()) => {
                self.stats.written.fetch_add(n, Relaxed);
                self.stats.pending.fetch_sub(n, Relaxed);
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, ops = n, "store: write failed; will retry");
                let keep = RETRY_LIMIT.min(batch.len());
                let dropped = batch.len() - keep;
                self.stats.dropped.fetch_add(dropped as u64, Relaxed);
                self.stats.pending.fetch_sub(dropped as u64, Relaxed);
                self.retry = batch.into_iter().take(keep).collect();
                // Back off so a full disk is not hammered.
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// The database file inside a store folder.
pub fn db_file(dir: &Path) -> PathBuf {
    dir.join("sightline.db")
}
