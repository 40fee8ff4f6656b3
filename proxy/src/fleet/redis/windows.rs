//! Failed-login and distinct-path windows counted fleet-wide. Each window of a client is one
//! sorted set in Redis (members scored by Redis's clock, in µs): an event is one script call
//! that drops the members older than the window, adds the event (a unique member for a failed
//! login; the path's digest for a missing path, so a path counts once), and answers the count.
//! The call that reaches the threshold deletes the set, so exactly one instance bans, and the
//! ban then reaches every instance through the shared bans. A set never holds more than a
//! threshold of members and expires a window after its last event.
//!
//! Cost: one command per failed login or missing path, none for any other call; a client
//! sending them is banned after the threshold, so what it costs is bounded by the threshold.
//! With Redis down, only the local windows count (each instance then bans after the
//! threshold of its own share).

use super::RedisFleet;
use crate::clients::WindowEvent;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

const WINDOW_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local within = tonumber(ARGV[1])
local threshold = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - within)
redis.call('ZADD', KEYS[1], now, ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n >= threshold then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], math.floor(within / 1000) + 1000)
end
return n
";

/// The script that counts an event: `KEYS[1]`; window µs, member, threshold. Returns the
/// count, the event included (at the threshold the set is gone).
pub fn window_script() -> &'static ::redis::Script {
    static S: OnceLock<::redis::Script> = OnceLock::new();
    S.get_or_init(|| ::redis::Script::new(WINDOW_LUA))
}

fn digest(text: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    crate::trace::hex(&d.as_ref()[..16])
}

/// Counts `event` in its fleet-wide window, off the caller's path; bans through the guard
/// when this event fills the window.
pub(super) fn count(fleet: &Arc<RedisFleet>, event: WindowEvent) {
    if !fleet.is_up() {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // The key has a fixed length whatever the client sent; a changed rule starts afresh.
    let key = format!(
        "{}win:{}",
        fleet.prefix,
        digest(&format!(
            "{}\n{}/{}us\n{}",
            event.window,
            event.threshold,
            event.within.as_micros(),
            event.client
        ))
    );
    let member = match &event.path {
        Some(path) => digest(path),
        None => format!(
            "{}:{}",
            fleet.instance,
            fleet.window_events.fetch_add(1, Relaxed)
        ),
    };
    let within = u64::try_from(event.within.as_micros()).unwrap_or(u64::MAX);
    let fleet = fleet.clone();
    rt.spawn(async move {
        let n: Option<u64> = fleet
            .run(1, |mut c| async move {
                window_script()
                    .key(&key)
                    .arg(within)
                    .arg(&member)
                    .arg(event.threshold.max(1))
                    .invoke_async(&mut c)
                    .await
            })
            .await;
        if n.is_some_and(|n| n >= u64::from(event.threshold.max(1))) {
            fleet.stats.windows_filled.fetch_add(1, Relaxed);
            if let Some(guard) = fleet.guard.get().and_then(std::sync::Weak::upgrade) {
                guard.fleet_window_full(&event);
            }
        }
    });
}
