//! The settle path: what this instance owes Redis (expired slices given back, debts of idle
//! keys charged), sent in batches by one script, each second.

use super::{Owed, LEASE_TTL};
use crate::fleet::redis::RedisFleet;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Keys settled per script call.
const SETTLE_BATCH: usize = 256;

const SETTLE_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local cells = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key))
  if cells < 0 and (not tat or tat < now) then tat = now end
  if tat then
    tat = tat - cells * interval
    if tat > now then
      redis.call('SET', key, string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
    else
      redis.call('DEL', key)
    end
  end
end
return #KEYS
";

/// The script that settles many keys at once: per key, interval µs and cells (positive: unused
/// cells given back; negative: a debt charged).
pub fn settle_script() -> &'static ::redis::Script {
    static S: OnceLock<::redis::Script> = OnceLock::new();
    S.get_or_init(|| ::redis::Script::new(SETTLE_LUA))
}

/// Gives back expired leases, charges debts of idle keys, forgets idle keys; sends what is
/// owed in a few script calls.
pub(in crate::fleet::redis) async fn settle(fleet: &Arc<RedisFleet>) {
    let now = Instant::now();
    let leases = &fleet.leases;
    for shard in leases.shards.iter() {
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        shard.retain(|key, e| {
            leases.expire(key, e, now);
            let idle = now.duration_since(e.touched) > LEASE_TTL && e.pending.is_none();
            if idle {
                leases.owe(
                    key,
                    e.cost.interval,
                    i64::from(e.tokens) - i64::from(e.debt),
                );
            }
            !idle
        });
    }
    let owed = std::mem::take(&mut *leases.owed.lock().unwrap_or_else(|p| p.into_inner()));
    for batch in owed.chunks(SETTLE_BATCH) {
        let mut call = settle_script().prepare_invoke();
        for o in batch {
            call.key(&*o.key).arg(o.interval).arg(o.cells);
        }
        let sent: Option<i64> = fleet
            .run(1, |mut c| async move { call.invoke_async(&mut c).await })
            .await;
        if sent.is_none() {
            // Given back cells are lost (Redis lets them drain); debts wait for the next try.
            let mut again = leases.owed.lock().unwrap_or_else(|p| p.into_inner());
            for o in batch.iter().filter(|o| o.cells < 0) {
                again.push(Owed {
                    key: o.key.clone(),
                    interval: o.interval,
                    cells: o.cells,
                });
            }
            break;
        }
    }
}
