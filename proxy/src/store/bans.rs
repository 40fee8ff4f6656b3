//! Client bans in the store: current bans and remembered strikes survive a restart.

use rusqlite::{params, Connection, Transaction};
use sightline_policy::clients::Ban;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bans (
    client TEXT PRIMARY KEY, reason TEXT NOT NULL, since INTEGER NOT NULL,
    until INTEGER NOT NULL, strikes INTEGER NOT NULL);
";

/// Every ban row: (client, ban).
pub(super) fn restore(conn: &Connection) -> rusqlite::Result<Vec<(String, Ban)>> {
    let mut stmt = conn.prepare("SELECT client, reason, since, until, strikes FROM bans")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            super::rows::ban(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
        ))
    })?;
    rows.collect()
}

/// Writes or replaces one client's ban.
pub(super) fn put(tx: &Transaction<'_>, client: &str, ban: &Ban) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO bans (client, reason, since, until, strikes) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        client,
        ban.reason,
        ban.since as i64,
        ban.until as i64,
        i64::from(ban.strikes)
    ])?;
    Ok(())
}

/// Forgets one client's ban.
pub(super) fn lift(tx: &Transaction<'_>, client: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM bans WHERE client = ?1")?
        .execute(params![client])?;
    Ok(())
}
