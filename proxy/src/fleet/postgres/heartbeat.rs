//! Heartbeats: this instance's row in `instances`, and the fleet's view read back each second
//! (the instances, the registry, the other instances' edges and their minute totals).

use super::{
    now_secs, pg, FleetView, Instance, Postgres, RemoteEdge, RemoteEndpoint, ALIVE, HEARTBEAT,
    ROUND,
};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

impl Postgres {
    /// Heartbeats and reads the instances, the registry and the other instances' minute
    /// totals.
    async fn beat(&self) -> Result<(), String> {
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
        let view = read_view(&client, &self.settings.instance)
            .await
            .map_err(pg)?;
        self.view.store(Arc::new(view));
        Ok(())
    }
}

/// Reads the instances and the other instances' graph of the last day.
async fn read_view(
    client: &tokio_postgres::Client,
    me: &str,
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
        view.nodes.push(crate::store::rows::node(
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
        ));
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
    read_totals(client, me, now, &mut view).await?;
    read_findings_and_alerts(client, me, &mut view).await?;
    Ok(view)
}

/// Findings, alerts and incidents of other instances read per heartbeat (the newest).
const SHOWN: i64 = 500;

/// Reads the other instances' latest findings, their live (or still owed) alerts and the
/// latest resolved ones, and their incidents, into `view`.
async fn read_findings_and_alerts(
    client: &tokio_postgres::Client,
    me: &str,
    view: &mut FleetView,
) -> Result<(), tokio_postgres::Error> {
    for row in client
        .query(
            "SELECT instance, id, at, kind, subject, evidence FROM findings
             WHERE instance <> $1 AND instance <> '' ORDER BY at DESC, id DESC LIMIT $2",
            &[&me, &SHOWN],
        )
        .await?
    {
        let f =
            crate::store::rows::finding(row.get(1), row.get(2), row.get(3), row.get(4), row.get(5));
        view.findings.push((row.get(0), f));
    }
    for row in client
        .query(
            "(SELECT instance, body FROM alerts WHERE instance <> $1
                AND (state <> 'resolved' OR owed) ORDER BY last_seen DESC LIMIT $2)
             UNION
             (SELECT instance, body FROM alerts WHERE instance <> $1
                ORDER BY last_seen DESC LIMIT $2)",
            &[&me, &SHOWN],
        )
        .await?
    {
        if let Ok(a) = serde_json::from_str(row.get::<_, &str>(1)) {
            view.alerts.push((row.get(0), a));
        }
    }
    for row in client
        .query(
            "(SELECT instance, body FROM incidents WHERE instance <> $1 AND state <> 'resolved'
                ORDER BY last_seen DESC LIMIT $2)
             UNION
             (SELECT instance, body FROM incidents WHERE instance <> $1
                ORDER BY last_seen DESC LIMIT $2)",
            &[&me, &SHOWN],
        )
        .await?
    {
        if let Ok(i) = serde_json::from_str(row.get::<_, &str>(1)) {
            view.incidents.push((row.get(0), i));
        }
    }
    Ok(())
}

/// Reads the other instances' minute totals of the last day per endpoint into `view`.
async fn read_totals(
    client: &tokio_postgres::Client,
    me: &str,
    now: u64,
    view: &mut FleetView,
) -> Result<(), tokio_postgres::Error> {
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
            samples: Vec::new(),
        });
    }
    read_samples(client, me, since[3], view).await
}

/// Minute rows with sample paths read per heartbeat, newest first (each holds at most a few).
const SAMPLE_ROWS: i64 = 2_000;

/// Reads the sample paths of the other instances' endpoints (see
/// [`crate::analysis::graph::hides_paths`]) into the endpoints of `view`.
async fn read_samples(
    client: &tokio_postgres::Client,
    me: &str,
    since: i64,
    view: &mut FleetView,
) -> Result<(), tokio_postgres::Error> {
    use crate::analysis::graph::{merge_samples, PathSample};
    let rows = client
        .query(
            "SELECT instance, key, minute, (totals::jsonb->'samples')::text FROM minutes
             WHERE instance <> $1 AND minute >= $2 AND strpos(totals, '\"samples\"') > 0
             ORDER BY minute DESC LIMIT $3",
            &[&me, &since, &SAMPLE_ROWS],
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

/// Heartbeats and reads the fleet's view every [`HEARTBEAT`] while the store lives.
pub(super) async fn heartbeat(pg: Weak<Postgres>) {
    loop {
        let Some(this) = pg.upgrade() else { return };
        match tokio::time::timeout(ROUND, this.beat()).await {
            Ok(Ok(())) => this.ok(),
            Ok(Err(e)) => this.failed(&e),
            Err(_) => this.failed("no answer"),
        }
        drop(this);
        tokio::time::sleep(HEARTBEAT).await;
    }
}
