//! The other instances' alerts, incidents and findings as the heartbeat last read them, kept
//! between heartbeats so that a heartbeat reads only the rows written since its last read.
//!
//! Every write of one of these rows stamps it with the writing transaction's id (`change`,
//! schema version 4). A read first takes the oldest transaction id still running (the xmin
//! of a snapshot), then reads the rows stamped at or after the previous read's xmin: a row
//! stamped below an xmin was committed (or rolled back) before that read began, so that read
//! saw it, and a transaction that commits late is seen by the next read at the latest. After
//! a start, and every [`FULL_EVERY`] reads, the newest rows are read in full instead, which
//! also forgets rows deleted since (pruned past the retention).

use super::heartbeat::{Reader, ALERTS, FINDINGS, INCIDENTS};
use crate::alerts::model::{Alert, Incident};
use crate::analysis::engine::Finding;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Row;

/// Reads between two full reads.
pub(super) const FULL_EVERY: u32 = 60;

/// One row as kept: whether it is live (an alert not resolved or still owed, an incident not
/// resolved), its order (newest first: last seen or time, then id) and its value.
struct Held<T> {
    live: bool,
    rank: (i64, i64),
    value: T,
}

/// One table's rows of the other instances, keyed by (instance, id), at most `limit` newest
/// plus at most `limit` newest live ones.
pub(super) struct Shown<T> {
    rows: HashMap<(String, i64), Held<T>>,
    limit: usize,
    /// The xmin the next read reads from; `None` until a full read.
    cursor: Option<i64>,
    /// Reads since the last full one.
    since_full: u32,
}

/// One row read: (instance, id, live, rank, value).
pub(super) type Read<T> = (String, i64, bool, (i64, i64), T);

impl<T: Clone> Shown<T> {
    pub(super) fn new(limit: usize) -> Self {
        Shown {
            rows: HashMap::new(),
            limit,
            cursor: None,
            since_full: 0,
        }
    }

    /// The xmin to read changes from, or `None` when the next read must be a full one.
    pub(super) fn changes_from(&self) -> Option<i64> {
        self.cursor.filter(|_| self.since_full < FULL_EVERY)
    }

    /// A full read taken after `xmin`: replaces every row.
    pub(super) fn replace(&mut self, rows: Vec<Read<T>>, xmin: i64) {
        self.rows.clear();
        self.cursor = Some(xmin);
        self.since_full = 0;
        self.merge_rows(rows);
    }

    /// The rows changed since the last read, read after `xmin`.
    pub(super) fn changed(&mut self, rows: Vec<Read<T>>, xmin: i64) {
        self.cursor = Some(xmin);
        self.since_full += 1;
        self.merge_rows(rows);
    }

    fn merge_rows(&mut self, rows: Vec<Read<T>>) {
        if rows.is_empty() {
            return;
        }
        for (instance, id, live, rank, value) in rows {
            self.rows.insert((instance, id), Held { live, rank, value });
        }
        self.keep_newest();
    }

    /// Forgets all but the `limit` newest rows and the `limit` newest live ones.
    fn keep_newest(&mut self) {
        if self.rows.len() <= self.limit {
            return;
        }
        let mut order: Vec<(&(String, i64), &Held<T>)> = self.rows.iter().collect();
        order.sort_by_key(|(_, r)| std::cmp::Reverse(r.rank));
        let mut live = 0;
        let mut keep = HashSet::new();
        for (i, (key, r)) in order.into_iter().enumerate() {
            if r.live {
                live += 1;
            }
            if i < self.limit || (r.live && live <= self.limit) {
                keep.insert(key.clone());
            }
        }
        self.rows.retain(|k, _| keep.contains(k));
    }

    /// The rows, newest first, with the instance of each.
    pub(super) fn list(&self) -> Vec<(String, T)> {
        let mut rows: Vec<(&(String, i64), &Held<T>)> = self.rows.iter().collect();
        rows.sort_by_key(|(_, r)| std::cmp::Reverse(r.rank));
        rows.into_iter()
            .map(|((instance, _), r)| (instance.clone(), r.value.clone()))
            .collect()
    }
}

/// Findings, alerts and incidents of other instances kept (the newest, and as many of the
/// newest live alerts and incidents).
const SHOWN: i64 = 500;

/// The other instances' findings, alerts and incidents as last read.
pub(super) struct Kept {
    findings: Shown<Finding>,
    alerts: Shown<Alert>,
    incidents: Shown<Incident>,
}

impl Kept {
    /// Lists what is kept into `view`, newest first.
    pub(super) fn fill(&self, view: &mut super::FleetView) {
        view.findings = self.findings.list();
        view.alerts = self.alerts.list();
        view.incidents = self.incidents.list();
    }
}

impl Default for Kept {
    fn default() -> Self {
        let n = SHOWN as usize;
        Kept {
            findings: Shown::new(n),
            alerts: Shown::new(n),
            incidents: Shown::new(n),
        }
    }
}

impl Reader<'_> {
    /// Brings `shown` up to date from `table`: the rows changed since its last read (`changed`,
    /// given the cursor as `$2`), or the newest in full (`full`, given [`SHOWN`] as `$2`); the
    /// next read reads from `xmin`, taken before. Both select (instance, id, live, rank, rank
    /// tie-break, value); `parse` reads the value.
    async fn refresh<T: Clone>(
        &self,
        shown: &mut Shown<T>,
        table: usize,
        (changed, full): (&str, &str),
        xmin: i64,
        parse: impl Fn(&Row) -> Option<T>,
    ) -> Result<(), tokio_postgres::Error> {
        let from = shown.changes_from();
        let rows = match from {
            Some(cursor) => self.query(table, changed, &[&self.me, &cursor]).await?,
            None => self.query(table, full, &[&self.me, &SHOWN]).await?,
        };
        let read: Vec<Read<T>> = rows
            .iter()
            .filter_map(|row| {
                let value = parse(row)?;
                Some((
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    (row.get(3), row.get(4)),
                    value,
                ))
            })
            .collect();
        match from {
            Some(_) => shown.changed(read, xmin),
            None => shown.replace(read, xmin),
        }
        Ok(())
    }

    /// Reads the other instances' latest findings, their live (or still owed) alerts and the
    /// latest resolved ones, and their incidents, into `kept`: what changed since the last
    /// read, or all of the newest now and then.
    pub(super) async fn read_findings_and_alerts(
        &self,
        kept: &mut Kept,
    ) -> Result<(), tokio_postgres::Error> {
        let xmin = self.xmin().await?;
        self.refresh(
            &mut kept.findings,
            FINDINGS,
            (
                "SELECT instance, id, false, at, id, at, kind, subject, evidence FROM findings
                 WHERE instance <> $1 AND instance <> '' AND change >= $2",
                "SELECT instance, id, false, at, id, at, kind, subject, evidence FROM findings
                 WHERE instance <> $1 AND instance <> '' ORDER BY at DESC, id DESC LIMIT $2",
            ),
            xmin,
            |row| {
                Some(crate::store::rows::finding(
                    row.get(1),
                    row.get(5),
                    row.get(6),
                    row.get(7),
                    row.get(8),
                ))
            },
        )
        .await?;
        self.refresh(
            &mut kept.alerts,
            ALERTS,
            (
                "SELECT instance, id, state <> 'resolved' OR owed, last_seen, id, body FROM alerts
                 WHERE instance <> $1 AND change >= $2",
                "(SELECT instance, id, true, last_seen, id, body FROM alerts WHERE instance <> $1
                    AND (state <> 'resolved' OR owed) ORDER BY last_seen DESC LIMIT $2)
                 UNION ALL
                 (SELECT instance, id, state <> 'resolved' OR owed, last_seen, id, body FROM alerts
                    WHERE instance <> $1 ORDER BY last_seen DESC LIMIT $2)",
            ),
            xmin,
            |row| serde_json::from_str(row.get::<_, &str>(5)).ok(),
        )
        .await?;
        self.refresh(
            &mut kept.incidents,
            INCIDENTS,
            (
                "SELECT instance, id, state <> 'resolved', last_seen, id, body FROM incidents
                 WHERE instance <> $1 AND change >= $2",
                "(SELECT instance, id, true, last_seen, id, body FROM incidents WHERE instance <> $1
                    AND state <> 'resolved' ORDER BY last_seen DESC LIMIT $2)
                 UNION ALL
                 (SELECT instance, id, state <> 'resolved', last_seen, id, body FROM incidents
                    WHERE instance <> $1 ORDER BY last_seen DESC LIMIT $2)",
            ),
            xmin,
            |row| serde_json::from_str(row.get::<_, &str>(5)).ok(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(instance: &str, id: i64, live: bool, at: i64) -> Read<&'static str> {
        (instance.into(), id, live, (at, id), "v")
    }

    fn ids(s: &Shown<&'static str>) -> Vec<i64> {
        let mut rows: Vec<_> = s.rows.iter().map(|(k, r)| (r.rank, k.1)).collect();
        rows.sort_by(|a, b| b.cmp(a));
        rows.into_iter().map(|(_, id)| id).collect()
    }

    #[test]
    fn keeps_the_newest_and_the_newest_live_rows() {
        let mut s = Shown::new(2);
        s.replace(
            vec![
                row("a", 1, true, 10),
                row("a", 2, false, 20),
                row("a", 3, true, 30),
                row("a", 4, false, 40),
                row("a", 5, false, 50),
                row("a", 6, true, 5),
            ],
            100,
        );
        // The two newest (5, 4) and the two newest live (3, 1).
        assert_eq!(ids(&s), vec![5, 4, 3, 1]);
        assert_eq!(s.changes_from(), Some(100));
    }

    #[test]
    fn a_changed_row_replaces_its_copy_and_others_stay() {
        let mut s = Shown::new(10);
        s.replace(vec![row("a", 1, true, 10), row("b", 1, true, 10)], 7);
        s.changed(vec![row("a", 1, false, 30)], 9);
        assert_eq!(s.rows.len(), 2);
        assert!(!s.rows[&("a".to_owned(), 1)].live);
        assert_eq!(s.list()[0].0, "a", "newest first");
        assert_eq!(s.changes_from(), Some(9));
    }

    #[test]
    fn a_full_read_is_due_at_start_and_every_so_many_reads() {
        let mut s: Shown<&str> = Shown::new(10);
        assert_eq!(s.changes_from(), None);
        s.replace(Vec::new(), 1);
        for i in 0..FULL_EVERY {
            assert_eq!(s.changes_from(), Some(1 + i64::from(i)));
            s.changed(Vec::new(), 2 + i64::from(i));
        }
        assert_eq!(s.changes_from(), None);
    }
}
