//! Uncommon endpoints: a known client (named, past `watch.known_after` calls, not exempt) on an
//! endpoint it never called before; at an unusual hour when the client had not called in that
//! hour of the day (UTC) in the last weeks (`hours.rs`: two 24-bit masks per client, learned
//! from every call, an hour forgotten once unused for 4 weeks). The client's own entry also
//! counts its 4xx answers here.

use super::Finished;
use crate::clients::entry::{ClientState, MAX_ENDPOINTS_PER_CLIENT};
use crate::clients::{ClientGuard, ClientSignal, ConnFlags};
use crate::config::clients::ClientsConfig;
use sightline_policy::clients::{ClientId, ClientKind};
use std::hash::BuildHasher;

impl ClientGuard {
    /// Counts a 4xx on the client's entry and remembers the call's endpoint (up to
    /// [`MAX_ENDPOINTS_PER_CLIENT`]); a signal when a known client calls a new one.
    pub(super) fn learn_endpoint(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        call: &Finished,
    ) -> Option<ClientSignal> {
        let endpoint_hash = call.endpoint.map(|e| self.hasher.hash_one(e));
        let known_after = cfg.watch.known_after;
        self.clients.with(
            &client.id,
            || ClientState::new(client.kind, call.now),
            |st| {
                if (400..500).contains(&call.status) {
                    st.errors_4xx += 1;
                }
                let (hour, usual_hour) = st.hours.note(call.now);
                let named = client.kind != ClientKind::Address;
                let (Some(h), true, false) = (endpoint_hash, named, flags.exempt) else {
                    return None;
                };
                let learned = st.requests > known_after;
                if st.endpoints.contains(&h) || st.endpoints.len() >= MAX_ENDPOINTS_PER_CLIENT {
                    return None;
                }
                st.endpoints.push(h);
                learned.then(|| ClientSignal::UncommonEndpoint {
                    endpoint: call.endpoint.unwrap_or_default().to_owned(),
                    unusual_hour: (!usual_hour).then_some(hour),
                })
            },
        )
    }
}
