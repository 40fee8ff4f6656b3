//! The Redis back-end of the fleet: one multiplexed connection (commands from every task share
//! it, pipelined), kept up by a background task that reconnects on its own; leased GCRA limits
//! ([`lease`]) and shared bans ([`bans`]).
//!
//! Health: the back-end is `up` while commands succeed. A command that fails on the connection
//! or takes longer than [`OP_TIMEOUT`] drops the connection and marks it `down`; from then on
//! the data path does not wait for Redis at all and the fail mode applies, until the
//! background task connects again (every [`RECONNECT`]).

pub mod bans;
pub mod lease;
pub mod windows;

use super::{FailMode, Scope};
use crate::alerts::Alerts;
use crate::clients::ClientGuard;
use ::redis::aio::MultiplexedConnection;
use arc_swap::ArcSwapOption;
use sightline_policy::clients::{Passed, Rate, Throttled};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;

/// The longest the data path waits for Redis to lease a slice of a limit: past it the call is
/// judged by the fail mode (local limits, or 503).
pub const WAIT: Duration = Duration::from_millis(50);
/// A Redis command not answered within this marks the back-end down.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a down back-end is tried again, and how often the fleet's members are counted.
pub const RECONNECT: Duration = Duration::from_millis(500);
/// An instance whose heartbeat is older than this no longer counts as a member.
const MEMBER_TTL_MS: u64 = 5_000;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct FleetStats {
    /// Redis commands sent (each script call, each publish, each heartbeat command).
    pub ops: AtomicU64,
    /// Commands that failed or timed out.
    pub failures: AtomicU64,
    /// Times the back-end went down.
    pub outages: AtomicU64,
    /// Calls that waited for a lease.
    pub waits: AtomicU64,
    /// Calls whose lease did not come within [`WAIT`].
    pub wait_timeouts: AtomicU64,
    /// Rate decisions taken locally because Redis was down (fail open).
    pub local_decisions: AtomicU64,
    /// Calls refused with 503 because Redis was down (fail closed).
    pub refused_down: AtomicU64,
    /// Bans and lifts published to the fleet.
    pub bans_published: AtomicU64,
    /// Bans and lifts received from other instances.
    pub bans_received: AtomicU64,
    /// Fleet-wide failed-login and distinct-path windows this instance saw fill.
    pub windows_filled: AtomicU64,
}

/// The state of the back-end since its last change.
#[derive(Debug, Clone)]
struct Health {
    since: SystemTime,
    error: Option<String>,
}

/// The shared client protections through one Redis.
#[derive(Debug)]
pub struct RedisFleet {
    instance: String,
    fail: FailMode,
    client: ::redis::Client,
    /// Where, for status (no credentials).
    target: String,
    conn: ArcSwapOption<MultiplexedConnection>,
    up: AtomicBool,
    health: Mutex<Health>,
    /// Live instances in the fleet (at least 1), from the heartbeats.
    members: AtomicU32,
    leases: lease::Leases,
    /// Key prefix: every key and channel Sightline uses starts with it.
    prefix: String,
    /// The guard, for the bans of fleet-wide windows (set by [`RedisFleet::spawn`]).
    guard: std::sync::OnceLock<Weak<ClientGuard>>,
    /// Failed logins counted so far (their members in the shared windows).
    window_events: AtomicU64,
    /// Counters for `/metrics`.
    pub stats: FleetStats,
}

/// `host:port/db` of a Redis URL, without user or password.
fn redact(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let scheme = url.split_once("://").map_or("redis", |(s, _)| s);
    format!("{scheme}://{}", rest.split('?').next().unwrap_or_default())
}

impl RedisFleet {
    /// A back-end for `url`, not connected yet (the task from [`RedisFleet::spawn`] connects).
    pub fn new(instance: &str, url: &str, fail: FailMode) -> Result<Self, ::redis::RedisError> {
        let client = ::redis::Client::open(url)?;
        Ok(RedisFleet {
            instance: instance.to_owned(),
            fail,
            client,
            target: redact(url),
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            health: Mutex::new(Health {
                since: SystemTime::now(),
                error: Some("connecting".into()),
            }),
            members: AtomicU32::new(1),
            leases: lease::Leases::new(),
            prefix: "sightline:".into(),
            guard: std::sync::OnceLock::new(),
            window_events: AtomicU64::new(0),
            stats: FleetStats::default(),
        })
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The fail mode.
    pub fn fail_mode(&self) -> FailMode {
        self.fail
    }

    /// Whether Redis answers.
    pub fn is_up(&self) -> bool {
        self.up.load(Relaxed)
    }

    /// Live instances counted from the heartbeats (at least 1).
    pub fn members(&self) -> u32 {
        self.members.load(Relaxed).max(1)
    }

    /// Starts the connection keeper (reconnects, heartbeats, settles expired leases) and the
    /// ban subscriber, which applies other instances' bans to `guard`.
    pub fn spawn(
        self: &Arc<Self>,
        guard: Weak<ClientGuard>,
        alerts: Alerts,
    ) -> Vec<JoinHandle<()>> {
        let _ = self.guard.set(guard.clone());
        vec![
            tokio::spawn(keeper(self.clone(), alerts)),
            tokio::spawn(bans::subscriber(self.clone(), guard)),
        ]
    }

    /// The connection, when up.
    fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.load_full().map(|c| (*c).clone())
    }

    /// Runs one command (or a pipeline: `ops` commands) on the shared connection within
    /// [`OP_TIMEOUT`]; a failure marks the back-end down. `None` when down or failed.
    async fn run<T, F, Fut>(&self, ops: u64, f: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = ::redis::RedisResult<T>>,
    {
        let conn = self.conn()?;
        self.stats.ops.fetch_add(ops, Relaxed);
        match tokio::time::timeout(OP_TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.stats.failures.fetch_add(1, Relaxed);
                // A script or type error is not an outage; a broken connection is.
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.mark_down(e.to_string());
                } else {
                    tracing::warn!(error = %e, "fleet redis command failed");
                }
                None
            }
            Err(_) => {
                self.stats.failures.fetch_add(1, Relaxed);
                self.mark_down(format!("no answer within {OP_TIMEOUT:?}"));
                None
            }
        }
    }

    fn mark_down(&self, error: String) {
        self.conn.store(None);
        if self.up.swap(false, Relaxed) {
            self.stats.outages.fetch_add(1, Relaxed);
            tracing::error!(error = %error, redis = %self.target, fail = self.fail.as_str(), "fleet redis down");
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            *h = Health {
                since: SystemTime::now(),
                error: Some(error),
            };
        } else {
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            h.error = Some(error);
        }
        // Leases already held stay usable until they expire; pending requests give up.
        self.leases.abandon_pending();
    }

    async fn connect(&self) -> Result<(), String> {
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| e.to_string())?;
        self.stats.ops.fetch_add(2, Relaxed);
        for script in [lease::lease_script(), lease::settle_script()] {
            tokio::time::timeout(OP_TIMEOUT, script.load_async(&mut conn))
                .await
                .map_err(|_| "script load timed out".to_owned())?
                .map_err(|e| e.to_string())?;
        }
        self.conn.store(Some(Arc::new(conn)));
        if !self.up.swap(true, Relaxed) {
            tracing::info!(redis = %self.target, instance = %self.instance, "fleet redis connected");
            let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
            *h = Health {
                since: SystemTime::now(),
                error: None,
            };
        }
        Ok(())
    }

    /// Announces this instance and counts the live ones.
    async fn heartbeat(&self) {
        let key = format!("{}members", self.prefix);
        let instance = self.instance.clone();
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let n: Option<(i64, i64, u32)> = self
            .run(3, |mut c| async move {
                ::redis::pipe()
                    .cmd("ZADD")
                    .arg(&key)
                    .arg(now_ms)
                    .arg(&instance)
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(now_ms.saturating_sub(MEMBER_TTL_MS))
                    .cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
            })
            .await;
        if let Some((_, _, n)) = n {
            self.members.store(n.max(1), Relaxed);
        }
    }

    /// Takes one call from this instance's lease on a shared limit: `None` when the fleet has
    /// no answer for the key (Redis down: the guard's local limit decides).
    pub fn take(
        self: &Arc<Self>,
        scope: Scope<'_>,
        id: &str,
        rate: &Rate,
    ) -> Option<Result<Passed, Throttled>> {
        let out = lease::take(self, scope, id, rate);
        if out.is_none() && !self.is_up() {
            self.stats.local_decisions.fetch_add(1, Relaxed);
        }
        out
    }

    /// Makes the leases of `keys` ready, waiting at most [`WAIT`]. False when the call must be
    /// refused: Redis cannot answer and the fail mode is `closed`.
    pub async fn prepare(self: &Arc<Self>, keys: &[(Scope<'_>, &str, Rate)]) -> bool {
        let ready = lease::prepare(self, keys).await;
        if !ready && self.fail == FailMode::Closed {
            self.stats.refused_down.fetch_add(1, Relaxed);
            return false;
        }
        true
    }

    /// Tells the fleet about a ban set here, kept in Redis until `keep_until` (Unix µs).
    pub fn ban(
        self: &Arc<Self>,
        client: &str,
        ban: &sightline_policy::clients::Ban,
        keep_until: u64,
    ) {
        bans::publish_ban(self, client, ban, keep_until);
    }

    /// Tells the fleet a ban was lifted here.
    pub fn lift(self: &Arc<Self>, client: &str) {
        bans::publish_lift(self, client);
    }

    /// Readiness: not ready only when Redis is down and the fail mode refuses calls.
    pub fn ready(&self) -> Result<(), String> {
        if self.is_up() || self.fail == FailMode::Open {
            return Ok(());
        }
        Err("fleet redis down (fail: closed)".into())
    }

    /// The back-end's state for `/api/status`.
    pub fn status(&self) -> sightline_dashboard::views::FleetBackend {
        let h = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        sightline_dashboard::views::FleetBackend {
            name: "redis".into(),
            target: self.target.clone(),
            state: if self.is_up() { "up" } else { "down" }.into(),
            since: crate::clock::rfc3339(h.since),
            error: h.error,
            fail: Some(self.fail.as_str().into()),
            members: Some(u64::from(self.members())),
        }
    }

    /// Counters and state in the Prometheus text format.
    pub fn render_metrics(&self, out: &mut crate::metrics::Writer) {
        use crate::metrics::Kind;
        let s = &self.stats;
        for (name, help, v) in [
            (
                "sightline_fleet_redis_ops_total",
                "Redis commands sent by the shared client protections.",
                &s.ops,
            ),
            (
                "sightline_fleet_redis_failures_total",
                "Redis commands that failed or timed out.",
                &s.failures,
            ),
            (
                "sightline_fleet_redis_outages_total",
                "Times the fleet's Redis went down.",
                &s.outages,
            ),
            (
                "sightline_fleet_lease_waits_total",
                "Calls that waited for a lease of a shared limit.",
                &s.waits,
            ),
            (
                "sightline_fleet_lease_wait_timeouts_total",
                "Calls whose lease did not come in time (judged by the fail mode).",
                &s.wait_timeouts,
            ),
            (
                "sightline_fleet_local_decisions_total",
                "Rate decisions taken by local limits while Redis was down (fail open).",
                &s.local_decisions,
            ),
            (
                "sightline_fleet_refused_total",
                "Calls refused with 503 while Redis was down (fail closed).",
                &s.refused_down,
            ),
            (
                "sightline_fleet_bans_published_total",
                "Bans and lifts sent to the fleet.",
                &s.bans_published,
            ),
            (
                "sightline_fleet_bans_received_total",
                "Bans and lifts received from other instances.",
                &s.bans_received,
            ),
            (
                "sightline_fleet_windows_filled_total",
                "Fleet-wide failed-login and distinct-path windows filled by this instance's events.",
                &s.windows_filled,
            ),
        ] {
            out.single(name, Kind::Counter, help, v.load(Relaxed));
        }
        out.single(
            "sightline_fleet_redis_up",
            Kind::Gauge,
            "Whether the fleet's Redis answers.",
            u8::from(self.is_up()),
        );
        out.single(
            "sightline_fleet_members",
            Kind::Gauge,
            "Live instances in the fleet.",
            self.members(),
        );
    }
}

/// Keeps the connection: connects (again) when down, then every [`RECONNECT`] sends the
/// heartbeat and settles expired leases; raises `fleet_backend_failing` when commands fail.
async fn keeper(fleet: Arc<RedisFleet>, alerts: Alerts) {
    let mut tick = tokio::time::interval(RECONNECT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut alerted = 0u64;
    loop {
        tick.tick().await;
        if !fleet.is_up() {
            if let Err(e) = fleet.connect().await {
                fleet.stats.failures.fetch_add(1, Relaxed);
                let mut h = fleet.health.lock().unwrap_or_else(|p| p.into_inner());
                h.error = Some(e);
            }
        }
        if fleet.is_up() {
            fleet.heartbeat().await;
            lease::settle(&fleet).await;
        }
        let failures = fleet.stats.failures.load(Relaxed);
        if failures > alerted {
            alerts.raise(crate::alerts::intake::fault(
                crate::alerts::model::Kind::FleetBackendFailing,
                "redis",
                failures - alerted,
                serde_json::json!({
                    "backend": "redis",
                    "target": fleet.target,
                    "instance": fleet.instance,
                    "fail": fleet.fail.as_str(),
                    "up": fleet.is_up(),
                    "failures": failures,
                }),
            ));
            alerted = failures;
        }
    }
}

/// The fleet's Redis as the client guard sees it.
pub struct Shared(pub Arc<RedisFleet>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("instance", &self.0.instance())
            .finish_non_exhaustive()
    }
}

impl crate::clients::SharedProtections for Shared {
    fn take(&self, scope: Scope<'_>, id: &str, rate: &Rate) -> Option<Result<Passed, Throttled>> {
        self.0.take(scope, id, rate)
    }

    fn prepare<'a>(
        &'a self,
        keys: &'a [(Scope<'a>, &'a str, Rate)],
    ) -> crate::clients::Pending<'a, bool> {
        Box::pin(self.0.prepare(keys))
    }

    fn ban(&self, client: &str, ban: &sightline_policy::clients::Ban, keep_until: u64) {
        self.0.ban(client, ban, keep_until);
    }

    fn lift(&self, client: &str) {
        self.0.lift(client);
    }

    fn count(&self, event: crate::clients::WindowEvent) {
        windows::count(&self.0, event);
    }

    fn ready(&self) -> Result<(), String> {
        self.0.ready()
    }

    fn status(&self) -> sightline_dashboard::views::FleetBackend {
        self.0.status()
    }

    fn render_metrics(&self, out: &mut crate::metrics::Writer) {
        self.0.render_metrics(out);
    }
}
