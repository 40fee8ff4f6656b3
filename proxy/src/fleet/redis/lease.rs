//! Leased GCRA limits. Redis holds each shared limit as one GCRA timestamp (the theoretical
//! arrival time, on Redis's own clock, so instances' clocks do not matter). An instance does
//! not ask Redis per call: it leases a slice of the limit — the script advances the timestamp
//! by `n` cells at once, as `n` calls would — and spends the slice locally. A slice is at most
//! half a burst shared by the live instances (`burst / (2 × members)`, at least 1), and the next
//! slice is asked for when half of one is left, so what the fleet holds unspent of a key is at
//! most three quarters of its burst.
//!
//! Exactness: every call let through was paid for in Redis (a lease, or a debt charged with the
//! next lease when two calls raced for the last cell), so over any window the fleet admits at
//! most what one GCRA would, plus what was held unspent when the window starts — less than one
//! burst.
//! A slice not used within [`LEASE_TTL`] goes back (the timestamp moves back by what was left),
//! so a quiet instance holds nothing for long. Refusals are cached until Redis's retry time: a
//! client over its limit costs one round trip per retry interval, not per call.
//!
//! This file holds the lease table, leasing a slice and taking calls from it; giving back and
//! charging what is owed to Redis (the settle path) is in `settle.rs`.

mod settle;

use super::{RedisFleet, Scope, WAIT};
pub(super) use settle::settle;
pub use settle::settle_script;
use sightline_policy::clients::{Passed, Rate, Throttled};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A lease is spent for at most this long; what is left then goes back to Redis.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// The largest slice leased at once.
const MAX_SLICE: u32 = 1_000;
const SHARDS: usize = 64;
/// Keys remembered per shard (an idle key is forgotten after [`LEASE_TTL`]).
const PER_SHARD: usize = 4_096;

const LEASE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local debt = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
tat = tat + debt * interval
local room = math.floor((now + tolerance + interval - tat) / interval)
local grant = math.max(0, math.min(want, room))
tat = tat + grant * interval
if tat > now then
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
return {grant, tat - now}
";

/// The script that leases a slice: `KEYS[1]`; interval µs, tolerance µs, cells wanted, debt.
/// Returns `{granted, µs the timestamp is ahead of now}`.
pub fn lease_script() -> &'static ::redis::Script {
    static S: OnceLock<::redis::Script> = OnceLock::new();
    S.get_or_init(|| ::redis::Script::new(LEASE_LUA))
}

/// A rate in GCRA terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cost {
    interval: u64,
    tolerance: u64,
    burst: u32,
}

impl Cost {
    fn of(rate: &Rate) -> Cost {
        let per = u64::try_from(rate.per.as_micros()).unwrap_or(u64::MAX);
        let interval = (per / u64::from(rate.count.max(1))).max(1);
        let burst = rate.burst.max(1);
        Cost {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst - 1)),
            burst,
        }
    }

    /// The slice an instance leases: half a burst shared by the members.
    fn slice(&self, members: u32) -> u32 {
        (self.burst / (2 * members.max(1))).clamp(1, MAX_SLICE)
    }
}

/// One key's lease on this instance.
#[derive(Debug)]
struct Entry {
    cost: Cost,
    /// Cells leased and not spent.
    tokens: u32,
    /// Calls let through without a cell (raced for the last one); charged with the next lease.
    debt: u32,
    granted: Instant,
    touched: Instant,
    /// Redis refused a slice: calls are refused here until then.
    denied_until: Option<Instant>,
    /// What Redis had left beyond the slice, and until its burst was whole, at the last answer.
    room: u32,
    reset: Duration,
    /// A lease request in flight; waiters are woken when it ends.
    pending: Option<Arc<Notify>>,
}

impl Entry {
    fn new(cost: Cost, now: Instant) -> Self {
        Entry {
            cost,
            tokens: 0,
            debt: 0,
            granted: now,
            touched: now,
            denied_until: None,
            room: 0,
            reset: Duration::ZERO,
            pending: None,
        }
    }
}

/// A change owed to Redis: cells given back (positive) or charged (negative).
#[derive(Debug)]
struct Owed {
    key: Arc<str>,
    interval: u64,
    cells: i64,
}

/// One shard of the lease table.
type Shard = Mutex<HashMap<Arc<str>, Entry>>;

/// This instance's leases, sharded behind short std mutexes (never held across an await).
#[derive(Debug)]
pub struct Leases {
    shards: Box<[Shard]>,
    hasher: RandomState,
    owed: Mutex<Vec<Owed>>,
}

impl Default for Leases {
    fn default() -> Self {
        Self::new()
    }
}

impl Leases {
    /// No leases.
    pub fn new() -> Self {
        Leases {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            owed: Mutex::new(Vec::new()),
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<Arc<str>, Entry>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn owe(&self, key: &Arc<str>, interval: u64, cells: i64) {
        if cells != 0 {
            self.owed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Owed {
                    key: key.clone(),
                    interval,
                    cells,
                });
        }
    }

    /// Gives back a lease that outlived [`LEASE_TTL`].
    fn expire(&self, key: &Arc<str>, e: &mut Entry, now: Instant) {
        if e.tokens > 0 && now.duration_since(e.granted) > LEASE_TTL {
            self.owe(key, e.cost.interval, i64::from(e.tokens));
            e.tokens = 0;
        }
    }

    /// Wakes every call waiting for a lease (Redis went down: they stop waiting).
    pub fn abandon_pending(&self) {
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            for e in shard.values() {
                if let Some(n) = &e.pending {
                    n.notify_waiters();
                }
            }
        }
    }

    /// Leases held on this instance (for tests and status).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Redis key of a shared limit: a digest of the scope, the rate and the client, so keys
/// have a fixed length whatever the client sent, and a changed rate starts a fresh key.
fn key_name(prefix: &str, scope: Scope<'_>, id: &str, rate: &Rate) -> Arc<str> {
    let scope = match scope {
        Scope::Client => "client".to_owned(),
        Scope::Route(r) => format!("route {}", r.label()),
        Scope::Global => "global".to_owned(),
    };
    let text = format!(
        "{scope}\n{}/{}us/{}\n{id}",
        rate.count,
        rate.per.as_micros(),
        rate.burst
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!("{prefix}rl:{}", crate::trace::hex(&digest.as_ref()[..16])).into()
}

/// Asks Redis for a slice of `key` (paying `debt`), applies the answer and wakes the waiters.
async fn request(fleet: Arc<RedisFleet>, key: Arc<str>, cost: Cost, want: u32, debt: u32) {
    let k = key.clone();
    let answer: Option<(u32, i64)> = fleet
        .run(1, |mut c| async move {
            lease_script()
                .key(&*k)
                .arg(cost.interval)
                .arg(cost.tolerance)
                .arg(want)
                .arg(debt)
                .invoke_async(&mut c)
                .await
        })
        .await;
    let now = Instant::now();
    let leases = &fleet.leases;
    let mut shard = leases.shard(&key);
    let Some(e) = shard.get_mut(&key) else {
        drop(shard);
        if let Some((granted, _)) = answer {
            leases.owe(&key, cost.interval, i64::from(granted));
        }
        return;
    };
    match answer {
        Some((granted, ahead)) => {
            let ahead = u64::try_from(ahead).unwrap_or(0);
            e.tokens = e.tokens.saturating_add(granted);
            if granted > 0 {
                e.granted = now;
                e.denied_until = None;
            } else {
                let retry = ahead.saturating_sub(cost.tolerance).max(1);
                e.denied_until = Some(now + Duration::from_micros(retry));
            }
            let room = (cost.tolerance + cost.interval).saturating_sub(ahead) / cost.interval;
            e.room = u32::try_from(room).unwrap_or(u32::MAX);
            e.reset = Duration::from_micros(ahead);
        }
        // Not paid: charged with the next lease.
        None => e.debt = e.debt.saturating_add(debt),
    }
    if let Some(n) = e.pending.take() {
        n.notify_waiters();
    }
}

/// Makes the leases of `keys` ready (a slice in hand, or a refusal cached), waiting at most
/// [`WAIT`] for Redis. False when Redis cannot answer in time (or is down).
pub(super) async fn prepare(fleet: &Arc<RedisFleet>, keys: &[(Scope<'_>, &str, Rate)]) -> bool {
    if !fleet.is_up() {
        return false;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let members = fleet.members();
    let mut waits = Vec::new();
    for (scope, id, rate) in keys {
        let key = key_name(&fleet.prefix, *scope, id, rate);
        let cost = Cost::of(rate);
        let now = Instant::now();
        let leases = &fleet.leases;
        let mut shard = leases.shard(&key);
        if !shard.contains_key(&key) && shard.len() >= PER_SHARD {
            // Full: forget an idle key (giving back what it held), else judge locally.
            let idle = shard
                .iter()
                .find(|(_, e)| e.pending.is_none())
                .map(|(k, _)| k.clone());
            match idle {
                Some(k) => {
                    if let Some(e) = shard.remove(&k) {
                        leases.owe(&k, e.cost.interval, i64::from(e.tokens) - i64::from(e.debt));
                    }
                }
                None => return false,
            }
        }
        let e = shard
            .entry(key.clone())
            .or_insert_with(|| Entry::new(cost, now));
        e.touched = now;
        leases.expire(&key, e, now);
        if e.tokens > 0 || e.denied_until.is_some_and(|t| t > now) {
            continue;
        }
        let notify = match &e.pending {
            Some(n) => n.clone(),
            None => {
                let n = Arc::new(Notify::new());
                e.pending = Some(n.clone());
                let debt = std::mem::take(&mut e.debt);
                tokio::spawn(request(
                    fleet.clone(),
                    key.clone(),
                    cost,
                    cost.slice(members),
                    debt,
                ));
                n
            }
        };
        // Registered before the lock is released, so the wake-up cannot be missed.
        let mut wait = Box::pin(notify.notified_owned());
        wait.as_mut().enable();
        drop(shard);
        waits.push(wait);
    }
    if waits.is_empty() {
        return true;
    }
    fleet.stats.waits.fetch_add(1, Relaxed);
    let all = futures_util::future::join_all(waits);
    if tokio::time::timeout_at(deadline, all).await.is_err() {
        fleet.stats.wait_timeouts.fetch_add(1, Relaxed);
        return false;
    }
    fleet.is_up()
}

/// Takes one call from the lease of a key. `None` when the fleet has no answer for it (Redis
/// down, or the key was never prepared): the local limit decides.
pub(super) fn take(
    fleet: &Arc<RedisFleet>,
    scope: Scope<'_>,
    id: &str,
    rate: &Rate,
) -> Option<Result<Passed, Throttled>> {
    if !fleet.is_up() {
        return None;
    }
    let key = key_name(&fleet.prefix, scope, id, rate);
    let now = Instant::now();
    let leases = &fleet.leases;
    let mut shard = leases.shard(&key);
    let e = shard.get_mut(&key)?;
    e.touched = now;
    leases.expire(&key, e, now);
    let slice = e.cost.slice(fleet.members());
    if e.tokens > 0 {
        e.tokens -= 1;
        let passed = Passed {
            remaining: e.tokens.saturating_add(e.room),
            reset: e.reset,
        };
        // Ask for the next slice before this one runs out, so a steady client never waits.
        if e.tokens <= slice / 2 && e.pending.is_none() {
            e.pending = Some(Arc::new(Notify::new()));
            let debt = std::mem::take(&mut e.debt);
            tokio::spawn(request(fleet.clone(), key.clone(), e.cost, slice, debt));
        }
        return Some(Ok(passed));
    }
    if let Some(until) = e.denied_until.filter(|t| *t > now) {
        return Some(Err(Throttled {
            retry_after: until - now,
            reset: e.reset.max(until - now),
        }));
    }
    // Another call took the last cell since this one was prepared: let it through on credit,
    // charged with the next lease (at most a slice of credit), and ask for that lease.
    if e.pending.is_none() {
        e.pending = Some(Arc::new(Notify::new()));
        let debt = std::mem::take(&mut e.debt);
        tokio::spawn(request(fleet.clone(), key.clone(), e.cost, slice, debt));
    }
    let owing = e.debt;
    if owing < slice {
        e.debt += 1;
        return Some(Ok(Passed {
            remaining: 0,
            reset: e.reset,
        }));
    }
    Some(Err(Throttled {
        retry_after: Duration::from_micros(e.cost.interval),
        reset: e.reset,
    }))
}

#[cfg(test)]
mod tests;
