//! The shared store in PostgreSQL: the fleet's graph registry, per-instance minute totals,
//! findings, baselines, bans, the call log, instance heartbeats and fleet-wide alert claims.
//!
//! It takes the same [`crate::store::Op`]s as the embedded store, through a bounded queue, and
//! writes them in batches on its own task: the data path never waits on the database. While
//! the database is away, one batch is held and retried, the queue fills, and what does not fit
//! is dropped and counted; once it is back, the held batch and the queue are written (catch-up).
//! A second task heartbeats this instance and reads the other instances' graph into
//! [`FleetView`], which the admin API merges into its answers.

pub mod merge;
mod schema;

use crate::store::{Op, Restored, Store, StoreStats};
use arc_swap::ArcSwap;
use deadpool_postgres::{Pool, PoolConfig, Runtime, Timeouts};
use schema::{pg, Queued};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most operations written in one transaction.
const BATCH: usize = 4_096;
/// How often this instance heartbeats and reads the fleet's view.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The other instances' minute totals are read every this many heartbeats (they change once
/// a minute per endpoint, and their read scans a day of rows).
const TOTALS_EVERY: u64 = 5;
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
    /// Alert claims that failed (the alert was delivered anyway).
    pub claim_errors: AtomicU64,
    started: u64,
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
            claim_errors: AtomicU64::new(0),
            started: now_secs(),
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

    /// What the other instances saw, as last read (at most a second or so old).
    pub fn view(&self) -> Arc<FleetView> {
        self.view.load_full()
    }

    /// Claims the delivery of an alert to `sink` for the fleet: of the instances raising the
    /// same alert (kind and subject) in the same state, the first to claim delivers it. A claim
    /// lasts the alerts' quiet period. Its holder renews it at each try; a claim neither
    /// delivered nor renewed for `stale` (its instance died, or lost the database) is taken
    /// over by the next instance that claims the alert, so the alert still goes out.
    pub async fn claim(
        &self,
        sink: &str,
        kind: &str,
        subject: &str,
        state: &str,
        alert: &str,
        stale: Duration,
    ) -> Claim {
        let run = async {
            let client = self.client().await?;
            let hold = self.settings.claim_for.as_secs_f64();
            let stale = stale.as_secs_f64();
            // The outer SELECT reads the row as it was before the statement: when the claim is
            // not won, it tells whether the holder has delivered yet.
            let row = client
                .query_one(
                    "WITH won AS (
                       INSERT INTO alert_claims AS c
                         (sink, kind, subject, state, instance, claimed_at, delivered_at, alert)
                       VALUES ($1, $2, $3, $4, $5, now(), NULL, $6)
                       ON CONFLICT (sink, kind, subject, state) DO UPDATE SET
                         instance = excluded.instance, claimed_at = now(), delivered_at = NULL,
                         alert = excluded.alert
                       WHERE c.claimed_at < now() - make_interval(secs => $7)
                          OR (c.delivered_at IS NULL AND c.instance = excluded.instance)
                          OR (c.delivered_at IS NULL AND c.claimed_at < now() - make_interval(secs => $8))
                       RETURNING instance)
                     SELECT EXISTS (SELECT 1 FROM won),
                       COALESCE((SELECT delivered_at IS NOT NULL FROM alert_claims
                         WHERE sink = $1 AND kind = $2 AND subject = $3 AND state = $4), false)",
                    &[&sink, &kind, &subject, &state, &self.settings.instance, &alert, &hold, &stale],
                )
                .await
                .map_err(pg)?;
            Ok::<_, String>((row.get::<_, bool>(0), row.get::<_, bool>(1)))
        };
        match tokio::time::timeout(ROUND, run).await {
            Ok(Ok((true, _))) => Claim::Mine,
            Ok(Ok((false, true))) => Claim::Theirs,
            Ok(Ok((false, false))) => Claim::Pending,
            Ok(Err(e)) => {
                self.claim_errors.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "alert claim failed; delivering anyway");
                Claim::Unknown
            }
            Err(_) => {
                self.claim_errors.fetch_add(1, Relaxed);
                Claim::Unknown
            }
        }
    }

    /// Marks a claimed alert delivered, so no other instance takes it over.
    pub async fn delivered(&self, sink: &str, kind: &str, subject: &str, state: &str) {
        let run = async {
            let client = self.client().await?;
            client
                .execute(
                    "UPDATE alert_claims SET delivered_at = now()
                     WHERE sink = $1 AND kind = $2 AND subject = $3 AND state = $4 AND instance = $5",
                    &[&sink, &kind, &subject, &state, &self.settings.instance],
                )
                .await
                .map_err(pg)?;
            Ok::<_, String>(())
        };
        if !matches!(tokio::time::timeout(ROUND, run).await, Ok(Ok(()))) {
            self.claim_errors.fetch_add(1, Relaxed);
        }
    }

    /// Heartbeats and reads the instances and the registry; with `totals`, also the other
    /// instances' minute totals (the heavier read), else keeps the last ones read.
    async fn beat(&self, totals: bool) -> Result<(), String> {
        let client = self.client().await?;
        let started = i64::try_from(self.started).unwrap_or(0);
        client
            .execute(
                "INSERT INTO instances (instance, version, admin, started, last_heartbeat)
                 VALUES ($1, $2, $3, to_timestamp($4), now())
                 ON CONFLICT (instance) DO UPDATE SET version = excluded.version,
                   admin = excluded.admin, started = excluded.started, last_heartbeat = now()",
                &[
                    &self.settings.instance,
                    &env!("CARGO_PKG_VERSION"),
                    &self.settings.admin,
                    &(started as f64),
                ],
            )
            .await
            .map_err(pg)?;
        let mut view = read_view(&client, &self.settings.instance, totals)
            .await
            .map_err(pg)?;
        if !totals {
            view.endpoints = self.view.load().endpoints.clone();
        }
        self.view.store(Arc::new(view));
        Ok(())
    }
}

/// Reads the instances and the other instances' graph of the last day.
async fn read_view(
    client: &tokio_postgres::Client,
    me: &str,
    totals: bool,
) -> Result<FleetView, tokio_postgres::Error> {
    let mut view = FleetView::default();
    let alive = ALIVE.as_secs_f64();
    for row in client
        .query(
            "SELECT instance, version, admin, extract(epoch from last_heartbeat)::bigint,
                    last_heartbeat > now() - make_interval(secs => $1)
             FROM instances ORDER BY instance",
            &[&alive],
        )
        .await?
    {
        view.instances.push(Instance {
            name: row.get(0),
            version: row.get(1),
            admin: row.get(2),
            last_heartbeat: row.get::<_, i64>(3).max(0) as u64,
            alive: row.get(4),
        });
    }
    let now = now_secs();
    let day = i64::try_from(now.saturating_sub(86_400)).unwrap_or(0);
    for row in client
        .query(
            "SELECT id, kind, label, first_seen, last_seen FROM nodes WHERE last_seen >= $1",
            &[&day],
        )
        .await?
    {
        view.nodes.push(crate::analysis::graph::Node {
            id: row.get::<_, String>(0).into(),
            kind: schema::kind_from(row.get(1)),
            label: row.get::<_, String>(2).into(),
            first_seen: row.get::<_, i64>(3).max(0) as u64,
            last_seen: row.get::<_, i64>(4).max(0) as u64,
        });
    }
    for row in client
        .query(
            "SELECT instance, src, dst, first_seen, last_seen FROM edges
             WHERE instance <> $1 AND last_seen >= $2",
            &[&me, &day],
        )
        .await?
    {
        view.edges.push(RemoteEdge {
            instance: row.get(0),
            from: row.get(1),
            to: row.get(2),
            first_seen: row.get::<_, i64>(3).max(0) as u64,
            last_seen: row.get::<_, i64>(4).max(0) as u64,
        });
    }
    if !totals {
        return Ok(view);
    }
    let minute = i64::try_from(now / 60).unwrap_or(0);
    let since = [minute - 1, minute - 5, minute - 60, minute - 1440];
    for row in client
        .query(
            "SELECT instance, key,
               COALESCE(SUM(c) FILTER (WHERE minute >= $2), 0)::bigint,
               COALESCE(SUM(c) FILTER (WHERE minute >= $3), 0)::bigint,
               COALESCE(SUM(c) FILTER (WHERE minute >= $4), 0)::bigint,
               COALESCE(SUM(c), 0)::bigint,
               COALESCE(SUM(b) FILTER (WHERE minute >= $2), 0)::bigint,
               COALESCE(SUM(b) FILTER (WHERE minute >= $3), 0)::bigint,
               COALESCE(SUM(b) FILTER (WHERE minute >= $4), 0)::bigint,
               COALESCE(SUM(b), 0)::bigint
             FROM (SELECT instance, key, minute,
                     COALESCE((totals::jsonb->>'count')::bigint, 0) AS c,
                     COALESCE((totals::jsonb->>'blocked')::bigint, 0) AS b
                   FROM minutes WHERE instance <> $1 AND minute >= $5) m
             GROUP BY instance, key",
            &[&me, &since[0], &since[1], &since[2], &since[3]],
        )
        .await?
    {
        let key: String = row.get(1);
        let mut parts = key.split('\u{1f}');
        let (Some(from), Some(to), Some(method), Some(template)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let n = |i: usize| row.get::<_, i64>(i).max(0) as u64;
        view.endpoints.push(RemoteEndpoint {
            instance: row.get(0),
            from: from.to_owned(),
            to: to.to_owned(),
            method: method.to_owned(),
            template: template.to_owned(),
            calls: [n(2), n(3), n(4), n(5)],
            blocked: [n(6), n(7), n(8), n(9)],
        });
    }
    Ok(view)
}

/// Heartbeats and reads the fleet's view every [`HEARTBEAT`] while the store lives.
async fn heartbeat(pg: Weak<Postgres>) {
    let mut beats: u64 = 0;
    loop {
        let Some(this) = pg.upgrade() else { return };
        let totals = beats.is_multiple_of(TOTALS_EVERY);
        beats += 1;
        match tokio::time::timeout(ROUND, this.beat(totals)).await {
            Ok(Ok(())) => this.ok(),
            Ok(Err(e)) => this.failed(&e),
            Err(_) => this.failed("no answer"),
        }
        drop(this);
        tokio::time::sleep(HEARTBEAT).await;
    }
}

struct Writer {
    pg: Arc<Postgres>,
    stats: Arc<StoreStats>,
    boot: i64,
    next: i64,
    /// The batch a failed write left, written first once the database is back.
    held: Vec<Queued>,
    last_prune: Instant,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Op>) {
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

impl crate::alerts::Claims for Postgres {
    fn claim<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
        alert: &'a str,
        stale: Duration,
    ) -> crate::alerts::ClaimFuture<'a, Claim> {
        Box::pin(Postgres::claim(
            self, sink, kind, subject, state, alert, stale,
        ))
    }

    fn delivered<'a>(
        &'a self,
        sink: &'a str,
        kind: &'a str,
        subject: &'a str,
        state: &'a str,
    ) -> crate::alerts::ClaimFuture<'a, ()> {
        Box::pin(Postgres::delivered(self, sink, kind, subject, state))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_never_blocks_the_sender_and_every_drop_is_counted() {
        // Nothing listens on port 1: every connection is refused.
        let (pg, store, restored) = Postgres::start(Settings {
            instance: "gw-1".into(),
            url: "postgres://sightline@127.0.0.1:1/sightline".into(),
            buffer: 8,
            retention: Duration::from_secs(60),
            max_calls: 10,
            admin: "127.0.0.1:9901".into(),
            claim_for: Duration::from_secs(60),
        })
        .await
        .unwrap();
        assert!(restored.nodes.is_empty());
        assert_eq!(pg.health().state, "down");
        const SENT: u64 = 10_000;
        for i in 0..SENT {
            store.send(Op::Call {
                at: i,
                json: "{}".into(),
            });
        }
        let s = &store.stats;
        // At most the queue and the one batch held for retry wait; the rest is counted.
        assert_eq!(s.written.load(Relaxed), 0);
        assert_eq!(s.dropped.load(Relaxed) + s.pending.load(Relaxed), SENT);
        assert!(s.pending.load(Relaxed) <= 8 + BATCH as u64);
        assert!(s.dropped.load(Relaxed) >= SENT - 8 - BATCH as u64);
        assert_eq!(
            pg.claim(
                "hook",
                "egress_blocked",
                "a -> b",
                "open",
                "{}",
                Duration::from_secs(5)
            )
            .await,
            Claim::Unknown,
            "an unanswered claim delivers anyway"
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("postgres://u@127.0.0.1:5432/db").is_ok());
        assert!(check_url("postgresql://u:p@db/sightline?connect_timeout=3").is_ok());
        assert!(check_url("redis://127.0.0.1").is_err());
        assert!(check_url("postgres://u@h/db?sslmode=bogus").is_err());
    }
}
