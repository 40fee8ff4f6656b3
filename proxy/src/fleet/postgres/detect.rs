//! Detection on the fleet's totals, by one elected instance.
//!
//! Every instance writes the samples of its closed steps (calls, errors and p90 latency per
//! watched endpoint, of the endpoints that had calls) into `fleet_steps`. One instance leads:
//! the one holding a session-level PostgreSQL advisory lock on a connection of its own. The
//! leader reads each step once the instances have had time to write it ([`grace`]), sums it
//! over the instances that wrote it (the live ones), feeds the fleet's detectors and hands the
//! anomalies to its analysis, which raises them like its own. No instance raises statistical
//! anomalies of its own slice. When the leader dies its connection closes, PostgreSQL releases
//! the lock, and the next instance to try (each tries every [`TRY_EVERY`]) takes over, resuming
//! the fleet's baselines from the last copy the leader saved (every [`SAVE_EVERY`]).
//!
//! Approximate by design: a step's p90 latency is the instances' p90s weighted by their calls,
//! and an instance whose write comes later than the grace counts as silent in that step.

use super::{pg, Postgres, ROUND};
use crate::analysis::baseline::{Baseline, Detector, DetectorConfig, MinuteSample};
use crate::analysis::watch::{split_key, subject, Fired, MAX_WATCHES};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A session-level advisory lock key: held by the instance that detects for the fleet.
const LEADER_LOCK: i64 = 7_283_541_907;
/// How often a follower tries to become the leader.
pub const TRY_EVERY: Duration = Duration::from_secs(1);
/// How often the leader saves the fleet's baselines at most: every ten steps, and at least
/// every [`SAVE_EVERY`]; a leader that stops saves them before it lets the lead go.
const SAVE_EVERY: Duration = Duration::from_secs(30);
const SAVE_STEPS: u64 = 10;
/// Closed steps waiting to be written; beyond that they are dropped (counted).
const QUEUE: usize = 64;
/// Steps the leader evaluates in one round (after a pause it skips ahead).
const MAX_CATCH_UP: u64 = 60;
/// Anomalies held for the analysis (it takes them every tick).
const MAX_FOUND: usize = 1_000;
/// The instance name under which the fleet's baselines are saved.
const FLEET: &str = "";

/// The fleet's detection as one instance takes part in it.
#[derive(Debug)]
pub struct Detection {
    config: DetectorConfig,
    step_ms: u64,
    tx: mpsc::Sender<Vec<(String, MinuteSample)>>,
    leader: AtomicBool,
    found: Mutex<Vec<Fired>>,
    any_found: AtomicBool,
    /// The shared store's counters: a closed step not written (queue full, write failed)
    /// counts as a store error.
    stats: Arc<crate::store::StoreStats>,
    /// Times this instance became the leader.
    pub elected: AtomicU64,
}

impl Detection {
    /// Whether this instance detects for the fleet.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Relaxed)
    }

    fn step_of(&self, unix_ms: u64) -> u64 {
        unix_ms / self.step_ms
    }
}

impl crate::analysis::engine::FleetDetection for Detection {
    fn closed(&self, samples: Vec<(String, MinuteSample)>) {
        if self.tx.try_send(samples).is_err() {
            self.stats.errors.fetch_add(1, Relaxed);
        }
    }

    fn take(&self) -> Vec<Fired> {
        if !self.any_found.swap(false, Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut *self.found.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// How long after a step ends the leader reads it: the instances' recorders close a step
/// within their tick (a quarter step, at most 5 s) and write it at once; two seconds more
/// cover the write.
fn grace(step_ms: u64) -> u64 {
    (step_ms / 4).clamp(5, 5_000) + 2_000
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Starts this instance's part: the writer of its closed steps and the election (with the
/// leader's detection). Both end when `pg` is stopped or dropped.
pub(super) fn start(
    pg: &Arc<Postgres>,
    config: DetectorConfig,
    step: Duration,
    stats: Arc<crate::store::StoreStats>,
) -> Arc<Detection> {
    let step_ms = if step.is_zero() {
        60_000
    } else {
        (step.as_millis() as u64).max(10)
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    let d = Arc::new(Detection {
        config,
        step_ms,
        tx,
        leader: AtomicBool::new(false),
        found: Mutex::new(Vec::new()),
        any_found: AtomicBool::new(false),
        stats,
        elected: AtomicU64::new(0),
    });
    tokio::spawn(write_steps(Arc::downgrade(pg), d.clone(), rx));
    tokio::spawn(elect(Arc::downgrade(pg), d.clone()));
    d
}

/// Writes each closed step of this instance as it comes.
async fn write_steps(
    pg: Weak<Postgres>,
    d: Arc<Detection>,
    mut rx: mpsc::Receiver<Vec<(String, MinuteSample)>>,
) {
    while let Some(samples) = rx.recv().await {
        let Some(pg) = pg.upgrade().filter(|p| !p.stopped()) else {
            return;
        };
        let run = async {
            let client = pg.client().await?;
            let key: Vec<&str> = samples.iter().map(|(k, _)| k.as_str()).collect();
            let step: Vec<i64> = samples.iter().map(|(_, s)| int(s.minute)).collect();
            let count: Vec<i64> = samples.iter().map(|(_, s)| int(s.count)).collect();
            let errors: Vec<i64> = samples.iter().map(|(_, s)| int(s.errors)).collect();
            let latency: Vec<f64> = samples.iter().map(|(_, s)| s.latency_ms).collect();
            client
                .execute(
                    "INSERT INTO fleet_steps (instance, key, step, count, errors, latency)
                     SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[],
                       $5::bigint[], $6::float8[])
                     ON CONFLICT (instance, key, step) DO UPDATE SET
                       count = excluded.count, errors = excluded.errors, latency = excluded.latency",
                    &[&pg.settings.instance, &key, &step, &count, &errors, &latency],
                )
                .await
                .map_err(pg_error)?;
            Ok::<_, String>(())
        };
        if !matches!(tokio::time::timeout(ROUND, run).await, Ok(Ok(()))) {
            d.stats.errors.fetch_add(1, Relaxed);
        }
    }
}

fn pg_error(e: tokio_postgres::Error) -> String {
    pg(e)
}

/// The leader's state: its own connection (the lock lives as long as it does) and the fleet's
/// detectors.
struct Leading {
    client: tokio_postgres::Client,
    conn: tokio::task::JoinHandle<()>,
    detectors: HashMap<String, Detector>,
    /// The last step evaluated.
    done: u64,
    saved: Instant,
}

impl Drop for Leading {
    fn drop(&mut self) {
        // Closing the connection releases the lock at once.
        self.conn.abort();
    }
}

/// Tries to become the leader every [`TRY_EVERY`]; while leading, evaluates the steps due.
async fn elect(pg: Weak<Postgres>, d: Arc<Detection>) {
    let mut leading: Option<Leading> = None;
    let tick = Duration::from_millis((d.step_ms / 2).clamp(50, 1_000));
    let mut last_try: Option<Instant> = None;
    let save_every = Duration::from_millis(d.step_ms.saturating_mul(SAVE_STEPS)).min(SAVE_EVERY);
    loop {
        let Some(this) = pg.upgrade().filter(|p| !p.stopped()) else {
            if let Some(l) = leading.take() {
                // The successor resumes from what this leader learned up to now.
                let _ = tokio::time::timeout(ROUND, save(&l)).await;
            }
            d.leader.store(false, Relaxed);
            return;
        };
        match leading.as_mut() {
            None if last_try.is_none_or(|t| t.elapsed() >= TRY_EVERY) => {
                last_try = Some(Instant::now());
                if let Ok(Ok(Some(l))) = tokio::time::timeout(ROUND, try_lead(&this, &d)).await {
                    tracing::info!(instance = %this.settings.instance, "leading the fleet's detection");
                    d.elected.fetch_add(1, Relaxed);
                    d.leader.store(true, Relaxed);
                    leading = Some(l);
                }
            }
            None => {}
            Some(l) => {
                let round = tokio::time::timeout(ROUND, evaluate(&d, l)).await;
                if !matches!(round, Ok(Ok(()))) {
                    tracing::warn!("lost the fleet's detection lead (connection lost)");
                    d.leader.store(false, Relaxed);
                    leading = None;
                } else if l.saved.elapsed() >= save_every {
                    l.saved = Instant::now();
                    // Best effort: a new leader resumes from the last copy saved.
                    let _ = tokio::time::timeout(ROUND, save(l)).await;
                }
            }
        }
        drop(this);
        tokio::time::sleep(tick).await;
    }
}

/// Opens a connection of its own and tries the lock; on success resumes the fleet's baselines.
async fn try_lead(pg: &Postgres, d: &Detection) -> Result<Option<Leading>, String> {
    // The schema must exist before the first read.
    drop(pg.client().await?);
    let (client, conn) = tokio_postgres::connect(&pg.settings.url, tokio_postgres::NoTls)
        .await
        .map_err(pg_error)?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut l = Leading {
        client,
        conn,
        detectors: HashMap::new(),
        done: d.step_of(now_ms().saturating_sub(grace(d.step_ms))),
        saved: Instant::now(),
    };
    let row = l
        .client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
        .await
        .map_err(pg_error)?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    for row in l
        .client
        .query(
            "SELECT key, state FROM baselines WHERE instance = $1",
            &[&FLEET],
        )
        .await
        .map_err(pg_error)?
    {
        let (key, state): (String, String) = (row.get(0), row.get(1));
        if l.detectors.len() >= MAX_WATCHES {
            break;
        }
        if let Ok(b) = serde_json::from_str::<Baseline>(&state) {
            l.detectors
                .insert(key, Detector::from_baseline(d.config.clone(), b));
        }
    }
    Ok(Some(l))
}

/// Evaluates the steps due since the last round on the fleet's totals.
async fn evaluate(d: &Detection, l: &mut Leading) -> Result<(), String> {
    let due = d
        .step_of(now_ms().saturating_sub(grace(d.step_ms)))
        .saturating_sub(1);
    if due <= l.done {
        // Still the leader? (A dead connection ends the lead.)
        l.client.simple_query("").await.map_err(pg_error)?;
        return Ok(());
    }
    let from = l.done.max(due.saturating_sub(MAX_CATCH_UP));
    let rows = l
        .client
        .query(
            "SELECT step, key, SUM(count)::bigint, SUM(errors)::bigint,
               COALESCE(SUM(latency * count) / NULLIF(SUM(count), 0), 0)::float8
             FROM fleet_steps WHERE step > $1 AND step <= $2 GROUP BY step, key",
            &[&int(from), &int(due)],
        )
        .await
        .map_err(pg_error)?;
    let mut steps: HashMap<u64, HashMap<String, MinuteSample>> = HashMap::new();
    for row in rows {
        let step = row.get::<_, i64>(0).max(0) as u64;
        let sample = MinuteSample {
            minute: step,
            count: row.get::<_, i64>(2).max(0) as u64,
            errors: row.get::<_, i64>(3).max(0) as u64,
            latency_ms: row.get(4),
        };
        steps.entry(step).or_default().insert(row.get(1), sample);
    }
    let mut found = Vec::new();
    for step in from + 1..=due {
        let mut of_step = steps.remove(&step).unwrap_or_default();
        for key in of_step.keys() {
            if !l.detectors.contains_key(key) && l.detectors.len() < MAX_WATCHES {
                l.detectors
                    .insert(key.clone(), Detector::new(d.config.clone()));
            }
        }
        for (key, detector) in &mut l.detectors {
            let sample = of_step
                .remove(key)
                .unwrap_or_else(|| MinuteSample::silent(step));
            for a in detector.observe(&sample) {
                if let Some((from, to, method, template)) = split_key(key) {
                    found.push(Fired {
                        subject: subject(from, to, method, template),
                        from: from.into(),
                        to: to.into(),
                        anomaly: a,
                        callers: Vec::new(),
                    });
                }
            }
        }
    }
    l.done = due;
    if !found.is_empty() {
        let mut held = d.found.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_FOUND.saturating_sub(held.len());
        held.extend(found.into_iter().take(room));
        d.any_found.store(true, Relaxed);
    }
    // Steps every instance has had time to write and the leader has read are not needed.
    l.client
        .execute(
            "DELETE FROM fleet_steps WHERE step <= $1",
            &[&int(due.saturating_sub(MAX_CATCH_UP))],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

/// Saves the fleet's baselines, so a new leader resumes them.
async fn save(l: &Leading) -> Result<(), String> {
    let mut keys = Vec::new();
    let mut states = Vec::new();
    for (key, detector) in &l.detectors {
        if let Ok(json) = serde_json::to_string(detector.baseline()) {
            keys.push(key.as_str());
            states.push(json);
        }
    }
    l.client
        .execute(
            "INSERT INTO baselines (instance, key, state)
             SELECT $1, * FROM unnest($2::text[], $3::text[])
             ON CONFLICT (instance, key) DO UPDATE SET state = excluded.state",
            &[&FLEET, &keys, &states],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}
