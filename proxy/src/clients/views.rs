//! What the admin API shows of the guard: clients and bans.

use super::ClientGuard;
use crate::clock::{from_micros, rfc3339};
use serde::Serialize;

/// One client, as `GET /api/clients` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClientView {
    /// The client id.
    pub id: String,
    /// `certificate`, `api_key`, `named` or `address`.
    pub kind: &'static str,
    /// Calls seen.
    pub requests: u64,
    /// Calls refused with 429/503.
    pub limited: u64,
    /// Calls refused with 403.
    pub blocked: u64,
    /// Calls answered 4xx.
    pub errors_4xx: u64,
    /// Last call, RFC 3339.
    pub last_seen: String,
    /// End of the current ban, RFC 3339, or null.
    pub banned_until: Option<String>,
}

/// One ban, as `GET /api/bans` lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct BanView {
    /// The client id.
    pub client: String,
    /// `failed_logins` or `scanning`.
    pub reason: String,
    /// Start, RFC 3339.
    pub since: String,
    /// End, RFC 3339.
    pub until: String,
    /// Bans in a row.
    pub strikes: u32,
}

impl ClientGuard {
    /// Current bans, longest-lasting first.
    pub fn bans(&self) -> Vec<BanView> {
        let now = self.now();
        let mut out = Vec::new();
        self.bans.for_each(|shard| {
            for (client, b) in shard.iter() {
                if b.active(now) {
                    out.push((
                        b.until,
                        BanView {
                            client: client.to_string(),
                            reason: b.reason.clone(),
                            since: rfc3339(from_micros(b.since)),
                            until: rfc3339(from_micros(b.until)),
                            strikes: b.strikes,
                        },
                    ));
                }
            }
        });
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.client.cmp(&b.1.client)));
        out.into_iter().map(|(_, v)| v).collect()
    }

    /// The busiest `limit` clients.
    pub fn client_views(&self, limit: usize) -> Vec<ClientView> {
        let now = self.now();
        let mut all = Vec::new();
        self.clients.for_each(|shard| {
            for (id, st) in shard.iter() {
                // Known only from a connection or a ban, with no call: nothing to show.
                if st.requests == 0 {
                    continue;
                }
                all.push(ClientView {
                    id: id.to_string(),
                    kind: st.kind.as_str(),
                    requests: st.requests,
                    limited: st.limited,
                    blocked: st.blocked,
                    errors_4xx: st.errors_4xx,
                    last_seen: rfc3339(from_micros(st.last_seen)),
                    banned_until: None,
                });
            }
        });
        all.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.id.cmp(&b.id)));
        all.truncate(limit);
        for c in &mut all {
            let key: std::sync::Arc<str> = c.id.as_str().into();
            c.banned_until = self
                .active_ban(&key, now)
                .map(|b| rfc3339(from_micros(b.until)));
        }
        all
    }
}
