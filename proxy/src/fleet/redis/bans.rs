//! Shared bans. A ban set on one instance is stored in Redis under `ban:<client>` with its
//! expiry (the end of the ban plus the time strikes are remembered, for escalation) and
//! published on the `bans` channel; every instance applies what it hears to its own ban table,
//! so a banned client is refused from memory, without a round trip. Lifting deletes the key and
//! publishes a lift. On every (re)subscription the stored bans are loaded again, so an instance
//! that missed messages while Redis was away catches up; a lift published while this instance
//! could not hear it is missed until the ban expires (the admin API lifts it again).

use super::{RedisFleet, OP_TIMEOUT, RECONNECT};
use crate::clients::ClientGuard;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sightline_policy::clients::Ban;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};

/// A ban as stored in Redis and published.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Message {
    /// `ban` or `lift`.
    op: String,
    /// The instance that set or lifted it.
    from: String,
    client: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    since: u64,
    #[serde(default)]
    until: u64,
    #[serde(default)]
    strikes: u32,
}

impl Message {
    fn ban(&self) -> Ban {
        Ban {
            reason: self.reason.clone(),
            since: self.since,
            until: self.until,
            strikes: self.strikes,
        }
    }
}

fn channel(fleet: &RedisFleet) -> String {
    format!("{}bans", fleet.prefix)
}

fn ban_key(fleet: &RedisFleet, client: &str) -> String {
    format!("{}ban:{client}", fleet.prefix)
}

fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(f);
    }
}

/// Stores and publishes a ban set here; kept in Redis until `keep_until` (Unix µs).
pub(super) fn publish_ban(fleet: &Arc<RedisFleet>, client: &str, ban: &Ban, keep_until: u64) {
    let msg = Message {
        op: "ban".into(),
        from: fleet.instance.clone(),
        client: client.to_owned(),
        reason: ban.reason.clone(),
        since: ban.since,
        until: ban.until,
        strikes: ban.strikes,
    };
    let Ok(text) = serde_json::to_string(&msg) else {
        return;
    };
    let (key, channel) = (ban_key(fleet, client), channel(fleet));
    let at_ms = keep_until.max(ban.until) / 1000 + 1;
    let fleet = fleet.clone();
    spawn(async move {
        let sent: Option<((), i64)> = fleet
            .run(2, |mut c| async move {
                ::redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(&text)
                    .arg("PXAT")
                    .arg(at_ms)
                    .cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&text)
                    .query_async(&mut c)
                    .await
            })
            .await;
        if sent.is_some() {
            fleet.stats.bans_published.fetch_add(1, Relaxed);
        }
    });
}

/// Deletes a ban from Redis and publishes the lift.
pub(super) fn publish_lift(fleet: &Arc<RedisFleet>, client: &str) {
    let msg = Message {
        op: "lift".into(),
        from: fleet.instance.clone(),
        client: client.to_owned(),
        reason: String::new(),
        since: 0,
        until: 0,
        strikes: 0,
    };
    let Ok(text) = serde_json::to_string(&msg) else {
        return;
    };
    let (key, channel) = (ban_key(fleet, client), channel(fleet));
    let fleet = fleet.clone();
    spawn(async move {
        let sent: Option<(i64, i64)> = fleet
            .run(2, |mut c| async move {
                ::redis::pipe()
                    .cmd("DEL")
                    .arg(&key)
                    .cmd("PUBLISH")
                    .arg(&channel)
                    .arg(&text)
                    .query_async(&mut c)
                    .await
            })
            .await;
        if sent.is_some() {
            fleet.stats.bans_published.fetch_add(1, Relaxed);
        }
    });
}

fn apply(fleet: &RedisFleet, guard: &ClientGuard, text: &str) {
    let Ok(msg) = serde_json::from_str::<Message>(text) else {
        tracing::warn!("unreadable ban message on the fleet channel");
        return;
    };
    if msg.from == fleet.instance {
        return;
    }
    fleet.stats.bans_received.fetch_add(1, Relaxed);
    match msg.op.as_str() {
        "ban" => guard.apply_shared_ban(&msg.client, msg.ban()),
        "lift" => guard.apply_shared_lift(&msg.client),
        _ => {}
    }
}

async fn timed<T>(
    f: impl std::future::Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, String> {
    tokio::time::timeout(OP_TIMEOUT, f)
        .await
        .map_err(|_| "no answer".to_owned())?
        .map_err(|e| e.to_string())
}

/// Loads every stored ban into `guard` (after a (re)subscription), on a connection of its own:
/// the shared one may not be up yet.
async fn load(fleet: &RedisFleet, guard: &ClientGuard) -> Result<(), String> {
    let mut conn = timed(fleet.client.get_multiplexed_async_connection()).await?;
    let pattern = format!("{}ban:*", fleet.prefix);
    let mut cursor = 0u64;
    let mut loaded = 0usize;
    loop {
        fleet.stats.ops.fetch_add(1, Relaxed);
        let (next, keys): (u64, Vec<String>) = timed(
            ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn),
        )
        .await?;
        if !keys.is_empty() {
            fleet.stats.ops.fetch_add(1, Relaxed);
            let values: Vec<Option<String>> =
                timed(::redis::cmd("MGET").arg(&keys).query_async(&mut conn)).await?;
            for text in values.into_iter().flatten() {
                if let Ok(msg) = serde_json::from_str::<Message>(&text) {
                    guard.apply_shared_ban(&msg.client, msg.ban());
                    loaded += 1;
                }
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    tracing::info!(bans = loaded, "fleet bans loaded");
    Ok(())
}

/// Listens on the bans channel for as long as the guard lives, subscribing again after any
/// loss of the connection.
pub(super) async fn subscriber(fleet: Arc<RedisFleet>, guard: Weak<ClientGuard>) {
    loop {
        if guard.strong_count() == 0 {
            return;
        }
        if let Err(e) = listen(&fleet, &guard).await {
            tracing::debug!(error = %e, "fleet ban channel unavailable");
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

async fn listen(fleet: &RedisFleet, guard: &Weak<ClientGuard>) -> Result<(), String> {
    let pubsub = tokio::time::timeout(OP_TIMEOUT, fleet.client.get_async_pubsub())
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = pubsub.split();
    tokio::time::timeout(OP_TIMEOUT, sink.subscribe(channel(fleet)))
        .await
        .map_err(|_| "subscribe timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    // Subscribed first, loaded second: a ban set in between is heard or loaded, never missed.
    {
        let Some(g) = guard.upgrade() else {
            return Ok(());
        };
        load(fleet, &g).await?;
    }
    while let Some(msg) = stream.next().await {
        let Some(g) = guard.upgrade() else {
            return Ok(());
        };
        if let Ok(text) = msg.get_payload::<String>() {
            apply(fleet, &g, &text);
        }
    }
    Err("connection closed".into())
}
