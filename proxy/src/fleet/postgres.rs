//! The shared store in PostgreSQL: the fleet's graph registry, per-instance minute totals,
//! findings, baselines, bans, the call log, instance heartbeats and fleet-wide alert claims.
//!
//! It takes the same [`crate::store::Op`]s as the embedded store, through a bounded queue, and
//! writes them in batches on its own task: the data path never waits on the database. While
//! the database is away, one batch is held and retried, the queue fills, and what does not fit
//! is dropped and counted; once it is back, the held batch and the queue are written (catch-up).
//! A second task heartbeats this instance and reads the other instances' graph into
//! [`FleetView`], which the admin API merges into its answers.
//!
//! This file holds the settings, the fleet's view, the store's handle and its start. The
//! writer task is in `writer.rs`, heartbeats and the view's reads in `heartbeat.rs` (the
//! findings, alerts and incidents read as they change, `changes.rs`), alert
//! delivery claims in `claims.rs`, the tables with their reads and writes in `schema.rs`, and
//! the merge of the view into the admin API's answers in `merge.rs`.

pub mod adopt;
mod changes;
mod claims;
pub mod detect;
mod heartbeat;
pub mod merge;
mod schema;
pub mod shown;
mod writer;

use crate::store::{Restored, Store, StoreStats};
use arc_swap::ArcSwap;
use deadpool_postgres::{Pool, PoolConfig, Runtime, Timeouts};
use heartbeat::heartbeat;
use schema::pg;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use writer::Writer;

/// Most operations written in one transaction.
const BATCH: usize = 4_096;
/// How often this instance heartbeats and reads the fleet's view (the other instances'
/// minute totals included: each instance writes its minute under way every few seconds, so an
/// endpoint seen only elsewhere is at most a recorder tick and a heartbeat behind).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance whose last heartbeat is older than this is shown as gone.
const ALIVE: Duration = Duration::from_secs(10);
/// Longest wait for one database round (a batch, a heartbeat, a claim).
const ROUND: Duration = Duration::from_secs(5);
/// Wait after a failed write before the next try.
const BACKOFF: Duration = Duration::from_millis(500);

/// Checks that `url` is a PostgreSQL connection URL.
pub fn check_url(url: &str) -> Result<(), String> {
    crate::config::fleet::check_postgres_url(url)
}

/// What the shared store needs to know at start.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This instance's name.
    pub instance: String,
    /// The connection URL.
    pub url: String,
    /// Operations queued while the database is slow or away; beyond that they are dropped.
    pub buffer: usize,
    /// Calls older than this are deleted.
    pub retention: Duration,
    /// At most this many calls are kept per instance.
    pub max_calls: u64,
    /// The admin address this instance serves, shown to the fleet.
    pub admin: String,
    /// How long an alert claimed by one instance stays claimed (the alerts' quiet period):
    /// the same alert raised again within it is not delivered again.
    pub claim_for: Duration,
    /// The detectors' tunables, for the fleet's detection.
    pub detector: crate::analysis::baseline::DetectorConfig,
    /// The analysis step (zero: a minute).
    pub step: Duration,
}

/// Operations queued for the shared store while the database is slow or away.
const BUFFER: usize = 65_536;

impl Settings {
    /// The settings `config` gives, when it names a fleet's PostgreSQL.
    pub fn from_config(config: &crate::Config, admin: std::net::SocketAddr) -> Option<Settings> {
        let fleet = config.fleet.as_ref()?;
        let url = fleet.postgres.clone()?;
        let storage = config.storage.as_ref();
        Some(Settings {
            instance: fleet.instance.clone(),
            url,
            buffer: BUFFER,
            retention: storage.map_or(Duration::from_secs(86_400), |s| s.retention),
            max_calls: storage.map_or(1_000_000, |s| s.max_calls),
            admin: admin.to_string(),
            claim_for: config.alerts.quiet_period,
            detector: crate::analysis::baseline::DetectorConfig::from(&config.analysis),
            step: config.analysis.step,
        })
    }
}

/// One instance of the fleet, as its heartbeats show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its admin address.
    pub admin: String,
    /// Unix seconds of its last heartbeat.
    pub last_heartbeat: u64,
    /// Whether it heartbeated recently.
    pub alive: bool,
}

/// An edge another instance saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEdge {
    /// The instance that saw it.
    pub instance: String,
    /// Caller id.
    pub from: String,
    /// Callee id.
    pub to: String,
    /// Unix seconds.
    pub first_seen: u64,
    /// Unix seconds.
    pub last_seen: u64,
}

/// Calls another instance recorded for one endpoint, over the graph's windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEndpoint {
    /// The instance that saw it.
    pub instance: String,
    /// Caller id.
    pub from: String,
    /// Callee id.
    pub to: String,
    /// Method.
    pub method: String,
    /// Template.
    pub template: String,
    /// Calls over the last minute, 5 minutes, hour and day (closed minutes).
    pub calls: [u64; 4],
    /// Refused calls over the same windows.
    pub blocked: [u64; 4],
    /// Sample paths of a template that hides them, last seen in the last day (minute
    /// resolution), most recent first.
    pub samples: Vec<crate::analysis::graph::PathSample>,
}

/// What the other instances saw, as last read.
#[derive(Clone, Debug, Default)]
pub struct FleetView {
    /// Every instance, this one included.
    pub instances: Vec<Instance>,
    /// The fleet's nodes.
    pub nodes: Vec<crate::analysis::graph::Node>,
    /// Edges seen by other instances in the last day.
    pub edges: Vec<RemoteEdge>,
    /// Endpoint totals of other instances in the last day.
    pub endpoints: Vec<RemoteEndpoint>,
    /// The latest findings of other instances (the fleet's anomalies are raised by the
    /// detection leader), with the instance that raised each.
    pub findings: Vec<(String, crate::analysis::engine::Finding)>,
    /// Other instances' alerts: every one not resolved or still owed to a sink, and the
    /// latest resolved ones, with the instance that raised each (dead instances included).
    pub alerts: Vec<(String, crate::alerts::model::Alert)>,
    /// Other instances' incidents: those not resolved and the latest resolved ones.
    pub incidents: Vec<(String, crate::alerts::model::Incident)>,
}

/// The shared store's state, for `/api/status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// `up`, `down` or `connecting`.
    pub state: &'static str,
    /// The last error, while it is not up.
    pub error: Option<String>,
}

pub use crate::alerts::Claim;

/// The shared store of one instance.
pub struct Postgres {
    settings: Settings,
    pool: Pool,
    migrated: AtomicBool,
    /// 0 connecting, 1 up, 2 down.
    state: AtomicU64,
    error: Mutex<Option<String>>,
    view: ArcSwap<FleetView>,
    /// What the heartbeat read, for metrics.
    reads: heartbeat::ViewReads,
    /// Alert claims that failed (the alert was delivered anyway).
    pub claim_errors: AtomicU64,
    started: u64,
    /// Set at shutdown: the background tasks end (the detection lead is released).
    stopped: AtomicBool,
    detection: std::sync::OnceLock<Arc<detect::Detection>>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("instance", &self.settings.instance)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Postgres {
    /// Connects, migrates and reads what this instance starts from (waiting at most a few
    /// seconds: a database that is away gives an empty start, and the writer catches up once
    /// it is back), then starts the writer and the heartbeat. Must run inside the runtime.
    pub async fn start(settings: Settings) -> Result<(Arc<Postgres>, Store, Restored), String> {
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(settings.url.clone());
        cfg.connect_timeout = Some(Duration::from_secs(3));
        cfg.pool = Some(PoolConfig {
            max_size: 4,
            timeouts: Timeouts {
                wait: Some(ROUND),
                create: Some(ROUND),
                recycle: Some(ROUND),
            },
            ..PoolConfig::default()
        });
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1), tokio_postgres::NoTls)
            .map_err(|e| format!("fleet.postgres: {e}"))?;
        let this = Arc::new(Postgres {
            settings,
            pool,
            migrated: AtomicBool::new(false),
            state: AtomicU64::new(0),
            error: Mutex::new(None),
            view: ArcSwap::from_pointee(FleetView::default()),
            reads: heartbeat::ViewReads::default(),
            claim_errors: AtomicU64::new(0),
            started: now_secs(),
            stopped: AtomicBool::new(false),
            detection: std::sync::OnceLock::new(),
        });
        let restored = match tokio::time::timeout(ROUND, this.restore()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                this.failed(&e);
                tracing::warn!(error = %e, "shared store unavailable at start; starting empty, will catch up");
                Restored::default()
            }
            Err(_) => {
                this.failed("no answer at start");
                tracing::warn!(
                    "shared store did not answer at start; starting empty, will catch up"
                );
                Restored::default()
            }
        };
        let stats = Arc::new(StoreStats::default());
        let (tx, rx) = mpsc::channel(this.settings.buffer.max(1));
        let writer = Writer {
            pg: this.clone(),
            stats: stats.clone(),
            boot: i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros()),
            )
            .unwrap_or(0),
            next: 0,
            held: Vec::new(),
            last_prune: Instant::now(),
        };
        tokio::spawn(writer.run(rx));
        tokio::spawn(heartbeat(Arc::downgrade(&this)));
        let detection = detect::start(
            &this,
            this.settings.detector.clone(),
            this.settings.step,
            stats.clone(),
        );
        let _ = this.detection.set(detection);
        Ok((this.clone(), Store::forwarding(tx, stats), restored))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        let mut client = self.pool.get().await.map_err(|e| e.to_string())?;
        if !self.migrated.load(Relaxed) {
            schema::migrate(&mut client).await?;
            self.migrated.store(true, Relaxed);
        }
        Ok(client)
    }

    async fn restore(&self) -> Result<Restored, String> {
        let client = self.client().await?;
        let r = schema::restore(&client, &self.settings.instance)
            .await
            .map_err(pg)?;
        self.ok();
        Ok(r)
    }

    fn ok(&self) {
        if self.state.swap(1, Relaxed) != 1 {
            tracing::info!("shared store up");
        }
        if let Ok(mut e) = self.error.lock() {
            *e = None;
        }
    }

    fn failed(&self, error: &str) {
        if self.state.swap(2, Relaxed) == 1 {
            tracing::warn!(error, "shared store down; buffering writes");
        }
        if let Ok(mut e) = self.error.lock() {
            *e = Some(error.to_owned());
        }
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// Up, down or connecting, with the last error.
    pub fn health(&self) -> Health {
        let state = match self.state.load(Relaxed) {
            1 => "up",
            2 => "down",
            _ => "connecting",
        };
        let error = self.error.lock().ok().and_then(|e| e.clone());
        Health { state, error }
    }

    /// The fleet's detection as this instance takes part in it.
    pub fn detection(&self) -> Option<Arc<detect::Detection>> {
        self.detection.get().cloned()
    }

    /// Stops the background tasks (at shutdown): the detection lead, when held, is released
    /// within a round, so another instance takes it over.
    pub fn stop(&self) {
        self.stopped.store(true, Relaxed);
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Relaxed)
    }

    /// What the other instances saw, as last read (at most a second or so old).
    pub fn view(&self) -> Arc<FleetView> {
        self.view.load_full()
    }
}

#[cfg(test)]
mod tests;
