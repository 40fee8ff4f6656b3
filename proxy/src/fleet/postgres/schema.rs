//! The shared store's tables, their versioned migrations, and the statements that write a
//! batch of store operations, restore an instance and read the fleet's view.

use crate::analysis::engine::Finding;
use crate::analysis::graph::Node;
use crate::store::{Op, Restored};
use std::collections::BTreeMap;
use tokio_postgres::{Client, Error, Transaction};

/// The migrations in order: (version, statements). A migration is never edited once released;
/// a change is a new version.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "
CREATE TABLE instances (
    instance TEXT PRIMARY KEY, version TEXT NOT NULL, admin TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL, last_heartbeat TIMESTAMPTZ NOT NULL);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
    first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL);
CREATE TABLE edges (
    instance TEXT NOT NULL, src TEXT NOT NULL, dst TEXT NOT NULL,
    first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, PRIMARY KEY (instance, src, dst));
CREATE TABLE endpoints (
    instance TEXT NOT NULL, node TEXT NOT NULL, method TEXT NOT NULL, template TEXT NOT NULL,
    PRIMARY KEY (instance, node, method, template));
CREATE TABLE minutes (
    instance TEXT NOT NULL, key TEXT NOT NULL, minute BIGINT NOT NULL, totals TEXT NOT NULL,
    PRIMARY KEY (instance, key, minute));
CREATE INDEX minutes_minute ON minutes (minute);
CREATE TABLE findings (
    instance TEXT NOT NULL, id BIGINT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, evidence TEXT NOT NULL, PRIMARY KEY (instance, id));
CREATE TABLE baselines (
    instance TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (instance, key));
CREATE TABLE bans (
    client TEXT PRIMARY KEY, reason TEXT NOT NULL, since BIGINT NOT NULL, until BIGINT NOT NULL,
    strikes INTEGER NOT NULL, instance TEXT NOT NULL);
CREATE TABLE calls (
    instance TEXT NOT NULL, boot BIGINT NOT NULL, n BIGINT NOT NULL, at BIGINT NOT NULL,
    call TEXT NOT NULL, PRIMARY KEY (instance, boot, n));
CREATE INDEX calls_at ON calls (at);
CREATE TABLE alert_claims (
    sink TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL,
    instance TEXT NOT NULL, claimed_at TIMESTAMPTZ NOT NULL, delivered_at TIMESTAMPTZ,
    alert TEXT NOT NULL, PRIMARY KEY (sink, kind, subject, state));
",
    ),
    (
        2,
        "
CREATE TABLE fleet_steps (
    instance TEXT NOT NULL, key TEXT NOT NULL, step BIGINT NOT NULL, count BIGINT NOT NULL,
    errors BIGINT NOT NULL, latency DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (instance, key, step));
CREATE INDEX fleet_steps_step ON fleet_steps (step);
",
    ),
    (
        3,
        "
CREATE TABLE alerts (
    instance TEXT NOT NULL, id BIGINT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL,
    state TEXT NOT NULL, owed BOOLEAN NOT NULL, last_seen BIGINT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (instance, id));
CREATE INDEX alerts_last_seen ON alerts (last_seen);
CREATE TABLE incidents (
    instance TEXT NOT NULL, id BIGINT NOT NULL, state TEXT NOT NULL, last_seen BIGINT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (instance, id));
CREATE INDEX incidents_last_seen ON incidents (last_seen);
CREATE INDEX findings_at ON findings (at);
",
    ),
    (
        4,
        "
ALTER TABLE findings ADD COLUMN change BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN change BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN change BIGINT NOT NULL DEFAULT 0;
CREATE INDEX findings_change ON findings (change);
CREATE INDEX alerts_change ON alerts (change);
CREATE INDEX incidents_change ON incidents (change);
",
    ),
];

/// The newest schema version this build knows.
pub(super) const LATEST: i32 = 4;

/// Applies the migrations the database lacks, under an advisory lock so instances starting
/// together apply each once. A database newer than this build is refused.
pub(super) async fn migrate(client: &mut Client) -> Result<(), String> {
    let tx = client.transaction().await.map_err(pg)?;
    // An arbitrary constant: the lock is the migrations', held until the transaction ends.
    tx.execute("SELECT pg_advisory_xact_lock(7283541906)", &[])
        .await
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sightline_migrations (
            version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(pg)?;
    let row = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM sightline_migrations",
            &[],
        )
        .await
        .map_err(pg)?;
    let current: i32 = row.get(0);
    if current > LATEST {
        return Err(format!(
            "the database schema is version {current}; this build knows up to {LATEST}"
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute(
            "INSERT INTO sightline_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

/// An error as one line (the server's message when there is one).
pub(super) fn pg(e: Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{}: {}", d.code().code(), d.message()),
        None => e.to_string(),
    }
}

use crate::store::rows::{self, kind_str};

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A store operation as the writer holds it: calls get their number when first taken, so a
/// batch written again after an unclear failure does not store a call twice.
#[derive(Debug)]
pub(super) enum Queued {
    Call { n: i64, at: u64, json: String },
    Other(Op),
}

/// A batch sorted by table, each row once (the latest wins), ready for one bulk statement per
/// table.
#[derive(Default)]
struct Tables<'a> {
    calls: (Vec<i64>, Vec<i64>, Vec<&'a str>),
    nodes: BTreeMap<&'a str, &'a Node>,
    edges: BTreeMap<(&'a str, &'a str), (i64, i64)>,
    endpoints: BTreeMap<(&'a str, &'a str, &'a str), ()>,
    minutes: BTreeMap<(&'a str, i64), &'a str>,
    findings: BTreeMap<i64, &'a Finding>,
    baselines: BTreeMap<&'a str, &'a str>,
    /// Bans and their lifting, in order.
    bans: Vec<&'a Op>,
    alerts: BTreeMap<i64, &'a crate::store::AlertRow>,
    incidents: BTreeMap<i64, &'a crate::store::IncidentRow>,
}

impl<'a> Tables<'a> {
    fn of(batch: &'a [Queued]) -> Self {
        let mut t = Tables::default();
        for q in batch {
            match q {
                Queued::Call { n, at, json } => {
                    t.calls.0.push(*n);
                    t.calls.1.push(int(*at));
                    t.calls.2.push(json.as_str());
                }
                Queued::Other(op) => t.add(op),
            }
        }
        t
    }

    fn edge(&mut self, from: &'a str, to: &'a str, first: i64, last: i64) {
        let e = self.edges.entry((from, to)).or_insert((first, last));
        e.0 = e.0.min(first);
        e.1 = e.1.max(last);
    }

    fn add(&mut self, op: &'a Op) {
        match op {
            Op::Call { .. } => {}
            Op::Node(n) => {
                let keep = self
                    .nodes
                    .get(n.id.as_ref())
                    .is_none_or(|old| old.last_seen <= n.last_seen);
                if keep {
                    self.nodes.insert(n.id.as_ref(), n);
                }
            }
            Op::Edge { from, to, at } => self.edge(from, to, int(*at), int(*at)),
            Op::Endpoint {
                node,
                method,
                template,
            } => {
                self.endpoints
                    .insert((node.as_str(), method.as_str(), template.as_str()), ());
            }
            Op::Minute { key, minute, json } => {
                self.minutes
                    .insert((key.as_str(), int(*minute)), json.as_str());
                // A minute of an endpoint also shows its edge and the endpoint.
                if let Some((from, to, method, template)) = crate::analysis::watch::split_key(key) {
                    let start = int(minute.saturating_mul(60));
                    self.edge(from, to, start, start + 59);
                    self.endpoints.insert((to, method, template), ());
                }
            }
            Op::Finding(f) => {
                self.findings.insert(int(f.id), f);
            }
            Op::Baseline { key, json } => {
                self.baselines.insert(key.as_str(), json.as_str());
            }
            Op::Ban { .. } | Op::Unban { .. } => self.bans.push(op),
            Op::Alert(a) => {
                self.alerts.insert(int(a.id), a);
            }
            Op::Incident(i) => {
                self.incidents.insert(int(i.id), i);
            }
        }
    }
}

/// Writes a batch in one transaction, one bulk statement per table.
pub(super) async fn write(
    client: &mut Client,
    instance: &str,
    boot: i64,
    batch: &[Queued],
) -> Result<(), Error> {
    let t = Tables::of(batch);
    let tx = client.transaction().await?;
    write_calls(&tx, instance, boot, &t).await?;
    write_graph(&tx, instance, &t).await?;
    write_analysis(&tx, instance, &t).await?;
    write_bans(&tx, instance, &t.bans).await?;
    write_alerts(&tx, instance, &t).await?;
    tx.commit().await
}

/// Alerts and incidents as they changed (the latest copy of each wins).
async fn write_alerts(tx: &Transaction<'_>, instance: &str, t: &Tables<'_>) -> Result<(), Error> {
    if !t.alerts.is_empty() {
        let a = &t.alerts;
        let id: Vec<i64> = a.keys().copied().collect();
        let kind: Vec<&str> = a.values().map(|a| a.kind).collect();
        let subject: Vec<&str> = a.values().map(|a| a.subject.as_str()).collect();
        let state: Vec<&str> = a.values().map(|a| a.state).collect();
        let owed: Vec<bool> = a.values().map(|a| a.owed).collect();
        let last: Vec<i64> = a.values().map(|a| int(a.last_seen)).collect();
        let body: Vec<&str> = a.values().map(|a| a.body.as_str()).collect();
        tx.execute(
            "INSERT INTO alerts (instance, id, kind, subject, state, owed, last_seen, body, change)
             SELECT $1, *, pg_current_xact_id()::text::bigint FROM unnest($2::bigint[],
               $3::text[], $4::text[], $5::text[], $6::bool[], $7::bigint[], $8::text[])
             ON CONFLICT (instance, id) DO UPDATE SET kind = excluded.kind,
               subject = excluded.subject, state = excluded.state, owed = excluded.owed,
               last_seen = excluded.last_seen, body = excluded.body, change = excluded.change",
            &[&instance, &id, &kind, &subject, &state, &owed, &last, &body],
        )
        .await?;
    }
    if !t.incidents.is_empty() {
        let i = &t.incidents;
        let id: Vec<i64> = i.keys().copied().collect();
        let state: Vec<&str> = i.values().map(|i| i.state).collect();
        let last: Vec<i64> = i.values().map(|i| int(i.last_seen)).collect();
        let body: Vec<&str> = i.values().map(|i| i.body.as_str()).collect();
        tx.execute(
            "INSERT INTO incidents (instance, id, state, last_seen, body, change)
             SELECT $1, *, pg_current_xact_id()::text::bigint
             FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[])
             ON CONFLICT (instance, id) DO UPDATE SET state = excluded.state,
               last_seen = excluded.last_seen, body = excluded.body, change = excluded.change",
            &[&instance, &id, &state, &last, &body],
        )
        .await?;
    }
    Ok(())
}

async fn write_calls(
    tx: &Transaction<'_>,
    instance: &str,
    boot: i64,
    t: &Tables<'_>,
) -> Result<(), Error> {
    if !t.calls.0.is_empty() {
        tx.execute(
            "INSERT INTO calls (instance, boot, n, at, call)
             SELECT $1, $2, * FROM unnest($3::bigint[], $4::bigint[], $5::text[])
             ON CONFLICT DO NOTHING",
            &[&instance, &boot, &t.calls.0, &t.calls.1, &t.calls.2],
        )
        .await?;
    }
    Ok(())
}

/// The registry: nodes, edges and endpoints.
async fn write_graph(tx: &Transaction<'_>, instance: &str, t: &Tables<'_>) -> Result<(), Error> {
    if !t.nodes.is_empty() {
        let ids: Vec<&str> = t.nodes.keys().copied().collect();
        let kinds: Vec<&str> = t.nodes.values().map(|n| kind_str(n.kind)).collect();
        let labels: Vec<&str> = t.nodes.values().map(|n| n.label.as_ref()).collect();
        let first: Vec<i64> = t.nodes.values().map(|n| int(n.first_seen)).collect();
        let last: Vec<i64> = t.nodes.values().map(|n| int(n.last_seen)).collect();
        tx.execute(
            "INSERT INTO nodes (id, kind, label, first_seen, last_seen)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
             ON CONFLICT (id) DO UPDATE SET
               first_seen = LEAST(nodes.first_seen, excluded.first_seen),
               last_seen = GREATEST(nodes.last_seen, excluded.last_seen)",
            &[&ids, &kinds, &labels, &first, &last],
        )
        .await?;
    }
    if !t.edges.is_empty() {
        let src: Vec<&str> = t.edges.keys().map(|k| k.0).collect();
        let dst: Vec<&str> = t.edges.keys().map(|k| k.1).collect();
        let first: Vec<i64> = t.edges.values().map(|v| v.0).collect();
        let last: Vec<i64> = t.edges.values().map(|v| v.1).collect();
        tx.execute(
            "INSERT INTO edges (instance, src, dst, first_seen, last_seen)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
             ON CONFLICT (instance, src, dst) DO UPDATE SET
               first_seen = LEAST(edges.first_seen, excluded.first_seen),
               last_seen = GREATEST(edges.last_seen, excluded.last_seen)",
            &[&instance, &src, &dst, &first, &last],
        )
        .await?;
    }
    if !t.endpoints.is_empty() {
        let node: Vec<&str> = t.endpoints.keys().map(|k| k.0).collect();
        let method: Vec<&str> = t.endpoints.keys().map(|k| k.1).collect();
        let template: Vec<&str> = t.endpoints.keys().map(|k| k.2).collect();
        tx.execute(
            "INSERT INTO endpoints (instance, node, method, template)
             SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[])
             ON CONFLICT DO NOTHING",
            &[&instance, &node, &method, &template],
        )
        .await?;
    }
    Ok(())
}

/// What the analysis keeps: minute totals, findings and baselines.
async fn write_analysis(tx: &Transaction<'_>, instance: &str, t: &Tables<'_>) -> Result<(), Error> {
    if !t.minutes.is_empty() {
        let key: Vec<&str> = t.minutes.keys().map(|k| k.0).collect();
        let minute: Vec<i64> = t.minutes.keys().map(|k| k.1).collect();
        let totals: Vec<&str> = t.minutes.values().copied().collect();
        tx.execute(
            "INSERT INTO minutes (instance, key, minute, totals)
             SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[])
             ON CONFLICT (instance, key, minute) DO UPDATE SET totals = excluded.totals",
            &[&instance, &key, &minute, &totals],
        )
        .await?;
    }
    if !t.findings.is_empty() {
        let f = &t.findings;
        let id: Vec<i64> = f.keys().copied().collect();
        let at: Vec<i64> = f.values().map(|f| int(f.at)).collect();
        let kind: Vec<&str> = f.values().map(|f| f.kind.as_str()).collect();
        let subject: Vec<&str> = f.values().map(|f| f.subject.as_str()).collect();
        let evidence: Vec<String> = f.values().map(|f| f.evidence.to_string()).collect();
        tx.execute(
            "INSERT INTO findings (instance, id, at, kind, subject, evidence, change)
             SELECT $1, *, pg_current_xact_id()::text::bigint
             FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[])
             ON CONFLICT (instance, id) DO UPDATE SET at = excluded.at, kind = excluded.kind,
               subject = excluded.subject, evidence = excluded.evidence, change = excluded.change",
            &[&instance, &id, &at, &kind, &subject, &evidence],
        )
        .await?;
    }
    if !t.baselines.is_empty() {
        let key: Vec<&str> = t.baselines.keys().copied().collect();
        let state: Vec<&str> = t.baselines.values().copied().collect();
        tx.execute(
            "INSERT INTO baselines (instance, key, state)
             SELECT $1, * FROM unnest($2::text[], $3::text[])
             ON CONFLICT (instance, key) DO UPDATE SET state = excluded.state",
            &[&instance, &key, &state],
        )
        .await?;
    }
    Ok(())
}

/// Bans in order: a ban and its lifting in one batch must end lifted.
async fn write_bans(tx: &Transaction<'_>, instance: &str, bans: &[&Op]) -> Result<(), Error> {
    for op in bans {
        match op {
            Op::Ban { client, ban } => {
                let strikes = i32::try_from(ban.strikes).unwrap_or(i32::MAX);
                tx.execute(
                    "INSERT INTO bans (client, reason, since, until, strikes, instance)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (client) DO UPDATE SET reason = excluded.reason,
                       since = excluded.since, until = excluded.until,
                       strikes = excluded.strikes, instance = excluded.instance",
                    &[
                        client,
                        &ban.reason,
                        &int(ban.since),
                        &int(ban.until),
                        &strikes,
                        &instance,
                    ],
                )
                .await?;
            }
            Op::Unban { client } => {
                tx.execute("DELETE FROM bans WHERE client = $1", &[client])
                    .await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// What an instance starts from: the fleet's registry and bans, its own findings, baselines
/// and last day of minutes.
pub(super) async fn restore(client: &Client, instance: &str) -> Result<Restored, Error> {
    let mut r = Restored::default();
    for row in client
        .query(
            "SELECT id, kind, label, first_seen, last_seen FROM nodes",
            &[],
        )
        .await?
    {
        r.nodes.push(rows::node(
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
        ));
    }
    for row in client
        .query(
            "SELECT src, dst, MIN(first_seen) FROM edges GROUP BY src, dst",
            &[],
        )
        .await?
    {
        r.edges
            .push((row.get(0), row.get(1), row.get::<_, i64>(2).max(0) as u64));
    }
    for row in client
        .query("SELECT DISTINCT node, method, template FROM endpoints", &[])
        .await?
    {
        r.endpoints.push((row.get(0), row.get(1), row.get(2)));
    }
    for row in client
        .query(
            "SELECT id, at, kind, subject, evidence FROM (
               SELECT * FROM findings WHERE instance = $1 ORDER BY id DESC LIMIT 1000) f
             ORDER BY id",
            &[&instance],
        )
        .await?
    {
        r.findings.push(rows::finding(
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
        ));
    }
    for row in client
        .query(
            "SELECT key, state FROM baselines WHERE instance = $1",
            &[&instance],
        )
        .await?
    {
        r.baselines.push((row.get(0), row.get(1)));
    }
    for row in client
        .query(
            "SELECT client, reason, since, until, strikes FROM bans",
            &[],
        )
        .await?
    {
        let strikes: i32 = row.get(4);
        r.bans.push((
            row.get(0),
            rows::ban(row.get(1), row.get(2), row.get(3), i64::from(strikes)),
        ));
    }
    let since = int((super::now_secs() / 60).saturating_sub(MINUTES_KEPT));
    for row in client
        .query(
            "SELECT key, totals FROM minutes WHERE instance = $1 AND minute >= $2 ORDER BY minute",
            &[&instance, &since],
        )
        .await?
    {
        r.minutes.push((row.get(0), row.get(1)));
    }
    Ok(r)
}

/// Minute totals kept: the graph's longest window (a day) and a little more.
pub(super) const MINUTES_KEPT: u64 = 25 * 60;

/// Deletes this instance's rows past their age or count.
pub(super) async fn prune(
    client: &Client,
    instance: &str,
    retention_secs: u64,
    max_calls: u64,
) -> Result<(), Error> {
    let now = super::now_secs();
    let old = int((now / 60).saturating_sub(MINUTES_KEPT));
    client
        .execute(
            "DELETE FROM minutes WHERE instance = $1 AND minute < $2",
            &[&instance, &old],
        )
        .await?;
    let cutoff = int(now.saturating_sub(retention_secs));
    client
        .execute(
            "DELETE FROM calls WHERE instance = $1 AND at < $2",
            &[&instance, &cutoff],
        )
        .await?;
    client
        .execute(
            "DELETE FROM calls WHERE instance = $1 AND (boot, n) IN (
               SELECT boot, n FROM calls WHERE instance = $1
               ORDER BY boot DESC, n DESC OFFSET $2)",
            &[&instance, &int(max_calls)],
        )
        .await?;
    client
        .execute(
            "DELETE FROM findings WHERE instance = $1 AND id <= (
               SELECT MAX(id) FROM findings WHERE instance = $1) - 100000",
            &[&instance],
        )
        .await?;
    // Resolved alerts and incidents nobody is owed, past the retention (milliseconds).
    let cutoff_ms = cutoff.saturating_mul(1000);
    client
        .execute(
            "DELETE FROM alerts WHERE instance = $1 AND state = 'resolved' AND NOT owed
               AND last_seen < $2",
            &[&instance, &cutoff_ms],
        )
        .await?;
    client
        .execute(
            "DELETE FROM incidents WHERE instance = $1 AND state = 'resolved' AND last_seen < $2",
            &[&instance, &cutoff_ms],
        )
        .await?;
    Ok(())
}
