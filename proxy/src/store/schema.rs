//! The tables and the statements that read and write them.

use super::{Op, Restored, StoreConfig};
use rusqlite::{params, Connection};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, label TEXT NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, evidence TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, dst TEXT NOT NULL, first_seen INTEGER NOT NULL, PRIMARY KEY (src, dst));
CREATE TABLE IF NOT EXISTS endpoints (
    node TEXT NOT NULL, method TEXT NOT NULL, template TEXT NOT NULL,
    PRIMARY KEY (node, method, template));
CREATE TABLE IF NOT EXISTS baselines (key TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS minutes (
    key TEXT NOT NULL, minute INTEGER NOT NULL, totals TEXT NOT NULL, PRIMARY KEY (key, minute));
CREATE INDEX IF NOT EXISTS minutes_minute ON minutes(minute);
CREATE TABLE IF NOT EXISTS calls (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, call TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_at ON calls(at);
";

/// Opens the database in WAL mode and creates missing tables.
pub(super) fn open(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(file)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::bans::SCHEMA)?;
    Ok(conn)
}

use super::rows::{finding as finding_row, kind_str, node as node_row};

/// Reads the registry, the last 1,000 findings and the baselines.
pub(super) fn restore(conn: &Connection) -> rusqlite::Result<Restored> {
    let mut nodes = Vec::new();
    let mut stmt = conn.prepare("SELECT id, kind, label, first_seen, last_seen FROM nodes")?;
    let rows = stmt.query_map([], |r| {
        Ok(node_row(
            r.get(0)?,
            &r.get::<_, String>(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        ))
    })?;
    for n in rows {
        nodes.push(n?);
    }
    let mut findings = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT id, at, kind, subject, evidence FROM (SELECT * FROM findings ORDER BY id DESC LIMIT 1000) ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(finding_row(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            &r.get::<_, String>(4)?,
        ))
    })?;
    for f in rows {
        findings.push(f?);
    }
    let mut edges = Vec::new();
    let mut stmt = conn.prepare("SELECT src, dst, first_seen FROM edges")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })?;
    for e in rows {
        edges.push(e?);
    }
    let mut endpoints = Vec::new();
    let mut stmt = conn.prepare("SELECT node, method, template FROM endpoints")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    for e in rows {
        endpoints.push(e?);
    }
    let mut baselines = Vec::new();
    let mut stmt = conn.prepare("SELECT key, state FROM baselines")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for b in rows {
        baselines.push(b?);
    }
    let mut minutes = Vec::new();
    let mut stmt =
        conn.prepare("SELECT key, totals FROM minutes WHERE minute >= ?1 ORDER BY minute")?;
    let since = (now_secs() / 60).saturating_sub(MINUTES_KEPT) as i64;
    let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for m in rows {
        minutes.push(m?);
    }
    Ok(Restored {
        nodes,
        edges,
        endpoints,
        findings,
        baselines,
        bans: super::bans::restore(conn)?,
        minutes,
    })
}

/// Writes a batch in one transaction.
pub(super) fn write(conn: &mut Connection, batch: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut call = tx.prepare_cached("INSERT INTO calls (at, call) VALUES (?1, ?2)")?;
        let mut node = tx.prepare_cached(
            "INSERT INTO nodes (id, kind, label, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
        )?;
        let mut finding = tx.prepare_cached(
            "INSERT OR REPLACE INTO findings (id, at, kind, subject, evidence) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut baseline =
            tx.prepare_cached("INSERT OR REPLACE INTO baselines (key, state) VALUES (?1, ?2)")?;
        let mut minute = tx.prepare_cached(
            "INSERT OR REPLACE INTO minutes (key, minute, totals) VALUES (?1, ?2, ?3)",
        )?;
        let mut edge = tx.prepare_cached(
            "INSERT OR IGNORE INTO edges (src, dst, first_seen) VALUES (?1, ?2, ?3)",
        )?;
        let mut endpoint = tx.prepare_cached(
            "INSERT OR IGNORE INTO endpoints (node, method, template) VALUES (?1, ?2, ?3)",
        )?;
        for op in batch {
            match op {
                Op::Call { at, json } => {
                    call.execute(params![*at as i64, json])?;
                }
                Op::Node(n) => {
                    node.execute(params![
                        n.id.as_ref(),
                        kind_str(n.kind),
                        n.label.as_ref(),
                        n.first_seen as i64,
                        n.last_seen as i64
                    ])?;
                }
                Op::Finding(f) => {
                    finding.execute(params![
                        f.id as i64,
                        f.at as i64,
                        f.kind,
                        f.subject,
                        f.evidence.to_string()
                    ])?;
                }
                Op::Baseline { key, json } => {
                    baseline.execute(params![key, json])?;
                }
                Op::Minute {
                    key,
                    minute: at,
                    json,
                } => {
                    minute.execute(params![key, *at as i64, json])?;
                }
                Op::Edge { from, to, at } => {
                    edge.execute(params![from, to, *at as i64])?;
                }
                Op::Endpoint {
                    node,
                    method,
                    template,
                } => {
                    endpoint.execute(params![node, method, template])?;
                }
                Op::Ban { client, ban } => super::bans::put(&tx, client, ban)?,
                Op::Unban { client } => super::bans::lift(&tx, client)?,
                // Alerts and incidents have their own tables (`alerts::store`).
                Op::Alert(_) | Op::Incident(_) => {}
            }
        }
    }
    tx.commit()
}

/// Minute totals kept: the graph's longest window (a day) and a little more.
const MINUTES_KEPT: u64 = 25 * 60;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Deletes raw calls past the retention age or count, and minute totals older than a day.
pub(super) fn prune(conn: &Connection, config: &StoreConfig) -> rusqlite::Result<()> {
    let now = now_secs();
    let old = (now / 60).saturating_sub(MINUTES_KEPT) as i64;
    conn.execute("DELETE FROM minutes WHERE minute < ?1", params![old])?;
    let cutoff = now.saturating_sub(config.retention.as_secs()) as i64;
    conn.execute("DELETE FROM calls WHERE at < ?1", params![cutoff])?;
    conn.execute(
        "DELETE FROM calls WHERE seq <= (SELECT MAX(seq) FROM calls) - ?1",
        params![config.max_calls as i64],
    )?;
    conn.execute(
        "DELETE FROM findings WHERE id <= (SELECT MAX(id) FROM findings) - 100000",
        [],
    )?;
    Ok(())
}
