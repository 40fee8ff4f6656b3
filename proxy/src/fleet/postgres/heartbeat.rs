//! Heartbeats: this instance's row in `instances`, and the fleet's view read back each second
//! (the instances, the registry, the other instances' edges and their minute totals, and the
//! findings, alerts and incidents they changed since the last read, see `changes.rs`).

use super::changes::Kept;
use super::{
    now_secs, pg, FleetView, Instance, Postgres, RemoteEdge, RemoteEndpoint, ALIVE, HEARTBEAT,
    ROUND,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// The tables the heartbeat reads, as its metrics name them.
pub const TABLES: [&str; 7] = [
    "instances",
    "nodes",
    "edges",
    "minutes",
    "findings",
    "alerts",
    "incidents",
];
const INSTANCES: usize = 0;
const NODES: usize = 1;
const EDGES: usize = 2;
const MINUTES: usize = 3;
pub(super) const FINDINGS: usize = 4;
pub(super) const ALERTS: usize = 5;
pub(super) const INCIDENTS: usize = 6;

/// What the heartbeat asked of the database, for metrics.
#[derive(Debug, Default)]
pub struct ViewReads {
    /// Statements run (the heartbeat's own row included).
    pub queries: AtomicU64,
    /// Rows read per table, in the order of [`TABLES`].
    pub rows: [AtomicU64; TABLES.len()],
}

/// One heartbeat's statements on one connection, counted.
pub(super) struct Reader<'a> {
    client: &'a tokio_postgres::Client,
    pub(super) me: &'a str,
    reads: &'a ViewReads,
}

impl Reader<'_> {
    pub(super) async fn query(
        &self,
        table: usize,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.reads.queries.fetch_add(1, Relaxed);
        let rows = self.client.query(sql, params).await?;
        if let Some(n) = self.reads.rows.get(table) {
            n.fetch_add(rows.len() as u64, Relaxed);
        }
        Ok(rows)
    }

    /// The oldest transaction id still running: every row stamped below it is visible now.
    pub(super) async fn xmin(&self) -> Result<i64, tokio_postgres::Error> {
        self.reads.queries.fetch_add(1, Relaxed);
        let row = self
            .client
            .query_one(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }
}

impl Postgres {
    /// Heartbeats and reads the instances, the registry and the other instances' minute
    /// totals, findings, alerts and incidents (only those changed since `kept` was read).
    async fn beat(&self, kept: &mut Kept) -> Result<(), String> {
        let client = self.client().await?;
        let started = i64::try_from(self.started).unwrap_or(0);
        self.reads.queries.fetch_add(1, Relaxed);
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
        let reader = Reader {
            client: &client,
            me: &self.settings.instance,
            reads: &self.reads,
        };
        let view = reader.view(kept).await.map_err(pg)?;
        self.view.store(Arc::new(view));
        Ok(())
    }

    /// The heartbeat's counters in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut crate::metrics::Writer) {
        use crate::metrics::Kind;
        out.single(
            "sightline_fleet_postgres_queries_total",
            Kind::Counter,
            "Statements the fleet heartbeat ran on the shared store.",
            self.reads.queries.load(Relaxed),
        );
        let name = "sightline_fleet_postgres_rows_read_total";
        out.family(
            name,
            Kind::Counter,
            "Rows the fleet heartbeat read from the shared store, per table.",
        );
        for (table, n) in TABLES.iter().zip(&self.reads.rows) {
            out.sample(name, &[("table", table)], n.load(Relaxed));
        }
    }
}

impl Reader<'_> {
    /// Reads the instances and the other instances' graph of the last day, and their
    /// findings, alerts and incidents into `kept`.
    async fn view(&self, kept: &mut Kept) -> Result<FleetView, tokio_postgres::Error> {
        let mut view = FleetView::default();
        let alive = ALIVE.as_secs_f64();
        for row in self
            .query(
                INSTANCES,
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
        for row in self
            .query(
                NODES,
                "SELECT id, kind, label, first_seen, last_seen FROM nodes WHERE last_seen >= $1",
                &[&day],
            )
            .await?
        {
            view.nodes.push(crate::store::rows::node(
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
            ));
        }
        for row in self
            .query(
                EDGES,
                "SELECT instance, src, dst, first_seen, last_seen FROM edges
                 WHERE instance <> $1 AND last_seen >= $2",
                &[&self.me, &day],
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
        self.read_totals(now, &mut view).await?;
        self.read_findings_and_alerts(kept).await?;
        kept.fill(&mut view);
        Ok(view)
    }

    /// Reads the other instances' minute totals of the last day per endpoint into `view`.
    async fn read_totals(
        &self,
        now: u64,
        view: &mut FleetView,
    ) -> Result<(), tokio_postgres::Error> {
        let minute = i64::try_from(now / 60).unwrap_or(0);
        let since = [minute - 1, minute - 5, minute - 60, minute - 1440];
        for row in self
            .query(
                MINUTES,
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
                &[&self.me, &since[0], &since[1], &since[2], &since[3]],
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
                samples: Vec::new(),
            });
        }
        self.read_samples(since[3], view).await
    }

    /// Reads the sample paths of the other instances' endpoints (see
    /// [`crate::analysis::graph::hides_paths`]) into the endpoints of `view`.
    async fn read_samples(
        &self,
        since: i64,
        view: &mut FleetView,
    ) -> Result<(), tokio_postgres::Error> {
        use crate::analysis::graph::{merge_samples, PathSample};
        let rows = self
            .query(
                MINUTES,
                "SELECT instance, key, minute, (totals::jsonb->'samples')::text FROM minutes
                 WHERE instance <> $1 AND minute >= $2 AND strpos(totals, '\"samples\"') > 0
                 ORDER BY minute DESC LIMIT $3",
                &[&self.me, &since, &SAMPLE_ROWS],
            )
            .await?;
        let mut by_key: HashMap<(String, String), Vec<PathSample>> = HashMap::new();
        for row in rows {
            let Some(text) = row.get::<_, Option<String>>(3) else {
                continue;
            };
            let Ok(samples) = serde_json::from_str::<Vec<PathSample>>(&text) else {
                continue;
            };
            let minute = row.get::<_, i64>(2).max(0) as u64;
            let at = samples.into_iter().map(|s| PathSample {
                // Stored times are the instance's own; bounded to the row's minute.
                last_seen: s.last_seen.clamp(minute * 60, minute * 60 + 59),
                path: s.path,
            });
            merge_samples(by_key.entry((row.get(0), row.get(1))).or_default(), at);
        }
        for e in &mut view.endpoints {
            let key = crate::analysis::watch::join_key(&e.from, &e.to, &e.method, &e.template);
            if let Some(samples) = by_key.remove(&(e.instance.clone(), key)) {
                e.samples = samples;
            }
        }
        Ok(())
    }
}

/// Minute rows with sample paths read per heartbeat, newest first (each holds at most a few).
const SAMPLE_ROWS: i64 = 2_000;

/// Heartbeats and reads the fleet's view every [`HEARTBEAT`] while the store lives.
pub(super) async fn heartbeat(pg: Weak<Postgres>) {
    let mut kept = Kept::default();
    loop {
        let Some(this) = pg.upgrade() else { return };
        match tokio::time::timeout(ROUND, this.beat(&mut kept)).await {
            Ok(Ok(())) => this.ok(),
            Ok(Err(e)) => this.failed(&e),
            Err(_) => this.failed("no answer"),
        }
        drop(this);
        tokio::time::sleep(HEARTBEAT).await;
    }
}
