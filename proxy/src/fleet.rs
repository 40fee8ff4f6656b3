//! Fleet mode: several instances act as one. With `fleet.redis` the client protections are
//! shared — GCRA limits leased from Redis in slices, bans spread by pub/sub — so a limit holds
//! for the fleet, not per instance, and a client banned on one instance is refused by all.
//!
//! What is shared and what stays local:
//!
//! | state | where | how exact |
//! |---|---|---|
//! | per-client, per-client-route and global rates | Redis (GCRA), leased | never above the limit by more than the slices out (at most half a burst per key); see [`redis::lease`] |
//! | bans and their lifting | Redis keys with their expiry + pub/sub into each instance's ban table | every instance within a pub/sub hop (milliseconds) |
//! | failed-login, distinct-path and stuffing windows, connection and concurrency caps, surges | local | per instance |
//!
//! The data path waits for Redis only when a key has no lease and no recent answer, and then
//! at most [`redis::WAIT`]; when Redis is down it does not wait at all (see
//! [`crate::config::fleet::FailMode`]).

pub mod postgres;
pub mod redis;

pub use self::redis::RedisFleet;
pub use crate::config::fleet::{FailMode, FleetConfig};

pub use crate::clients::Scope;
use crate::clients::{Admitted, ClientGuard, ConnFlags, Protection, Refused};
use crate::config::clients::ClientsConfig;
use crate::errors::ProxyError;
use http::Method;
use sightline_policy::clients::{ClientId, Rate};
use sightline_policy::Decision;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Starts what `cfg` asks for on behalf of `guard` (the shared limits and bans) and returns the
/// background tasks to stop with the proxy. Nothing when there is no `fleet.redis`.
pub fn start(
    cfg: Option<&FleetConfig>,
    guard: &Arc<ClientGuard>,
    alerts: &crate::alerts::Alerts,
) -> Vec<JoinHandle<()>> {
    let Some((cfg, url)) = cfg.and_then(|c| c.redis.as_deref().map(|u| (c, u))) else {
        return Vec::new();
    };
    match RedisFleet::new(&cfg.instance, url, cfg.on_redis_failure) {
        Ok(fleet) => {
            let fleet = Arc::new(fleet);
            guard.set_fleet(Arc::new(redis::Shared(fleet.clone())));
            fleet.spawn(Arc::downgrade(guard), alerts.clone())
        }
        Err(e) => {
            // `check` validated the URL; this is a client that could not be built at all.
            tracing::error!(error = %e, "fleet redis unusable; client protections stay local");
            Vec::new()
        }
    }
}

/// The shared limits one call is judged by: (scope, key owner, rate).
fn needed<'a>(
    cfg: &'a ClientsConfig,
    client: &'a ClientId,
    method: &Method,
    path: &str,
) -> Vec<(Scope<'a>, &'a str, Rate)> {
    let mut keys = Vec::with_capacity(4);
    if let Some(r) = cfg.per_client {
        keys.push((Scope::Client, &*client.id, r));
        if client.claimed() {
            keys.push((Scope::Client, &*client.address, r));
        }
    }
    if let Some(limit) = cfg.routes.iter().find(|l| l.route.matches(method, path)) {
        keys.push((Scope::Route(&limit.route), &*client.id, limit.rate));
        if client.claimed() {
            keys.push((Scope::Route(&limit.route), &*client.address, limit.rate));
        }
    }
    if let Some(g) = cfg.global {
        keys.push((Scope::Global, "", g));
    }
    keys
}

/// [`ClientGuard::admit`] with the fleet's shared limits: when the guard has a fleet, the
/// leases the call needs are made ready first (a bounded wait, only for keys without a live
/// lease or a recent refusal); the guard then takes from them without waiting. With Redis
/// down and `fail: closed`, a call that a shared limit would judge is refused with 503.
pub async fn admit(
    guard: &ClientGuard,
    cfg: &ClientsConfig,
    flags: &ConnFlags,
    client: &ClientId,
    method: &Method,
    path: &str,
) -> Result<Admitted, Refused> {
    let Some(fleet) = guard.fleet() else {
        return guard.admit(cfg, flags, client, method, path);
    };
    if !cfg.enabled || flags.exempt || flags.denied {
        return guard.admit(cfg, flags, client, method, path);
    }
    // The ban is looked up once, in the ban table every instance's bans are applied to: a
    // banned client is refused by the guard from it, without a round trip to Redis.
    let ban = guard.ban_on(client);
    if ban.is_none() {
        let keys = needed(cfg, client, method, path);
        if !keys.is_empty() && !fleet.prepare(&keys).await {
            let protection = match keys[0].0 {
                Scope::Client => Protection::RatePerClient,
                Scope::Route(_) => Protection::RatePerRoute,
                Scope::Global => Protection::RateGlobal,
            };
            return Err(Refused {
                protection,
                error: ProxyError::SharedLimitsDown,
                decision: Decision::Limited,
                rate: None,
                close: false,
            });
        }
    }
    guard.admit_judged(cfg, flags, client, method, path, Some(ban))
}

/// The fleet's counters in the Prometheus text format (nothing without a fleet).
pub fn render_metrics(guard: &ClientGuard, out: &mut crate::metrics::Writer) {
    if let Some(f) = guard.fleet() {
        f.render_metrics(out);
    }
}
