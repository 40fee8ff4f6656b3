//! Alerts and incidents in the embedded SQLite database (the store's file, or memory when
//! the proxy runs without storage). An alert is written here before any sink sees it.

use super::model::{Alert, Incident, Silence, State};
use rusqlite::{params, Connection};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, owed INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_live ON alerts(state, owed);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY, state TEXT NOT NULL, last_seen INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_silences (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_ids (one INTEGER PRIMARY KEY CHECK (one = 1),
    next_alert INTEGER NOT NULL, next_incident INTEGER NOT NULL);
";

/// Resolved alerts kept in the database (older ones nobody is owed are deleted).
const KEEP: i64 = 100_000;

/// What a previous run left.
#[derive(Debug, Default)]
pub struct Stored {
    /// Live alerts, alerts some sink is still owed, and the latest resolved ones.
    pub alerts: Vec<Alert>,
    /// Incidents not resolved and the latest resolved ones.
    pub incidents: Vec<Incident>,
    /// Next alert id and next incident id.
    pub next: (u64, u64),
    /// Silences (some may be over).
    pub silences: Vec<Silence>,
}

/// The alert tables.
#[derive(Debug)]
pub struct AlertStore {
    conn: Connection,
}

impl AlertStore {
    /// Opens the tables in the store's database file, or in memory for `None`.
    pub fn open(file: Option<&Path>) -> rusqlite::Result<AlertStore> {
        let conn = match file {
            Some(f) => {
                let c = Connection::open(f)?;
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(SCHEMA)?;
        Ok(AlertStore { conn })
    }

    /// Reads what a previous run left, oldest first.
    pub fn load(&self) -> rusqlite::Result<Stored> {
        let mut alerts = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT body FROM alerts WHERE state != 'resolved' OR owed = 1
             UNION SELECT body FROM (SELECT body FROM alerts ORDER BY id DESC LIMIT 1000)",
        )?;
        for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
            match serde_json::from_str::<Alert>(&body?) {
                Ok(a) => alerts.push(a),
                Err(e) => tracing::warn!(error = %e, "alert store: unreadable alert skipped"),
            }
        }
        alerts.sort_by_key(|a| a.id);
        let mut incidents = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT body FROM incidents WHERE state != 'resolved'
             UNION SELECT body FROM (SELECT body FROM incidents ORDER BY id DESC LIMIT 500)",
        )?;
        for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
            if let Ok(i) = serde_json::from_str::<Incident>(&body?) {
                incidents.push(i);
            }
        }
        incidents.sort_by_key(|i| i.id);
        let next = self
            .conn
            .query_row(
                "SELECT next_alert, next_incident FROM alert_ids WHERE one = 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .unwrap_or((1, 1));
        let mut silences = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM alert_silences ORDER BY id")?;
        for body in stmt.query_map([], |r| r.get::<_, String>(0))? {
            if let Ok(s) = serde_json::from_str::<Silence>(&body?) {
                silences.push(s);
            }
        }
        Ok(Stored {
            alerts,
            incidents,
            next,
            silences,
        })
    }

    /// Writes changed alerts and incidents, and every silence when they changed, in one
    /// transaction.
    pub fn write(
        &mut self,
        alerts: &[Alert],
        incidents: &[Incident],
        silences: Option<&[Silence]>,
        next: (u64, u64),
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        if let Some(silences) = silences {
            tx.execute("DELETE FROM alert_silences", [])?;
            let mut s =
                tx.prepare_cached("INSERT INTO alert_silences (id, body) VALUES (?1, ?2)")?;
            for x in silences {
                let body = serde_json::to_string(x).unwrap_or_default();
                s.execute(params![x.id as i64, body])?;
            }
        }
        {
            let mut a = tx.prepare_cached(
                "INSERT OR REPLACE INTO alerts (id, state, owed, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for x in alerts {
                let owed = x.delivery.values().any(|d| d.owed());
                let body = serde_json::to_string(x).unwrap_or_default();
                a.execute(params![
                    x.id as i64,
                    x.state.as_str(),
                    owed,
                    x.last_seen as i64,
                    body
                ])?;
            }
            let mut i = tx.prepare_cached(
                "INSERT OR REPLACE INTO incidents (id, state, last_seen, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for x in incidents {
                let body = serde_json::to_string(x).unwrap_or_default();
                i.execute(params![
                    x.id as i64,
                    x.state.as_str(),
                    x.last_seen as i64,
                    body
                ])?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO alert_ids (one, next_alert, next_incident) VALUES (1, ?1, ?2)",
                params![next.0 as i64, next.1 as i64],
            )?;
        }
        tx.commit()
    }

    /// Deletes the oldest resolved alerts nobody is owed, past the ones kept.
    pub fn prune(&self) -> rusqlite::Result<()> {
        self.conn.execute(
            "DELETE FROM alerts WHERE state = ?1 AND owed = 0 AND id <= (SELECT MAX(id) FROM alerts) - ?2",
            params![State::Resolved.as_str(), KEEP],
        )?;
        self.conn.execute(
            "DELETE FROM incidents WHERE state = ?1 AND id <= (SELECT MAX(id) FROM incidents) - ?2",
            params![State::Resolved.as_str(), KEEP],
        )?;
        Ok(())
    }
}
