//! Bans: set when observation calls for one (each strike longer, up to the rule's maximum),
//! lifted through the admin API, written to the store so they survive a restart and read back
//! from it at start.

use super::{ClientGuard, ClientSignal};
use sightline_policy::clients::{Ban, ClientId, Escalation, Micros};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

impl ClientGuard {
    /// Takes back the bans a previous run left in the store.
    pub(super) fn restore_bans(&self, restored: Vec<(String, Ban)>) {
        for (client, ban) in restored {
            let client: Arc<str> = client.into();
            self.bans.shard(&client).insert(client.clone(), ban);
        }
    }

    /// Bans `client` (the next strike after its last ban) and persists the ban.
    pub(super) fn ban(
        &self,
        client: &ClientId,
        reason: &'static str,
        esc: &Escalation,
        enforce: bool,
        now: Micros,
    ) -> ClientSignal {
        self.ban_key(client.accountable(), reason, esc, enforce, now)
    }

    /// [`ClientGuard::ban`] of the client that answers as `key`.
    pub(super) fn ban_key(
        &self,
        key: &Arc<str>,
        reason: &'static str,
        esc: &Escalation,
        enforce: bool,
        now: Micros,
    ) -> ClientSignal {
        let ban = {
            let mut shard = self.bans.shard(key);
            let ban = esc.next(shard.peek(key), now, reason);
            if enforce {
                shard.insert(key.clone(), ban.clone());
            }
            ban
        };
        if enforce {
            let c = if reason == "scanning" {
                &self.stats.bans_scanning
            } else {
                &self.stats.bans_logins
            };
            c.fetch_add(1, Relaxed);
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Ban {
                    client: key.to_string(),
                    ban: ban.clone(),
                });
            }
            if let Some(fleet) = self.fleet.get() {
                let keep = ban
                    .until
                    .saturating_add(sightline_policy::clients::micros(esc.forget));
                fleet.ban(key, &ban, keep);
            }
        }
        ClientSignal::Banned {
            client: key.clone(),
            reason,
            strikes: ban.strikes,
            until: ban.until,
            enforced: enforce,
        }
    }

    /// `client`'s ban, when one is in force at `now`.
    pub(super) fn active_ban(&self, client: &Arc<str>, now: Micros) -> Option<Ban> {
        let (shard, hash) = self.bans.shard_hashed(client);
        shard
            .peek_hashed(hash, client)
            .filter(|b| b.active(now))
            .cloned()
    }

    /// Lifts a client's ban and forgets its strikes; false when it had none.
    pub fn lift(&self, client: &str) -> bool {
        let key: Arc<str> = client.into();
        let had = self.bans.shard(&key).remove(&key).is_some();
        if let Some(st) = self.clients.shard(&key).get_mut(&key) {
            st.failures.clear();
            st.scan.clear();
        }
        if let Some(fleet) = self.fleet.get() {
            fleet.lift(client);
        }
        if had {
            self.stats.bans_lifted.fetch_add(1, Relaxed);
            if let Some(store) = &self.store {
                store.send(crate::store::Op::Unban {
                    client: client.to_owned(),
                });
            }
        }
        had
    }
}
