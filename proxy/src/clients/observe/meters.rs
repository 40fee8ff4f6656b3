//! Floods and surges from the minute meters (`crate::clients::meter`): the global meter counts
//! every call, refused ones too; each endpoint's meter sees its own floods and, for a rarely
//! used endpoint, a surge of distinct clients.

use crate::clients::meter::{Meter, Reading};
use crate::clients::{ClientGuard, ClientSignal};
use crate::config::clients::ClientsConfig;
use sightline_policy::clients::{ClientId, Micros};
use std::hash::BuildHasher;
use std::sync::Arc;

impl ClientGuard {
    /// Counts a call (refused ones too) on the global meter; a flood signal once per minute.
    pub fn global_flood(&self, cfg: &ClientsConfig) -> Option<ClientSignal> {
        if !cfg.enabled {
            return None;
        }
        let w = &cfg.watch;
        let reading = self
            .global_meter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(self.now(), w.flood_factor, w.flood_min_per_minute);
        match reading {
            Reading::Flood {
                per_minute,
                baseline,
            } => Some(ClientSignal::Flood {
                scope: "global".into(),
                per_minute,
                baseline,
            }),
            Reading::Normal => None,
        }
    }

    /// Counts a call on endpoint `e`'s meter: a flood, then a surge, each once per minute.
    pub(super) fn meter_endpoint(
        &self,
        cfg: &ClientsConfig,
        client: &ClientId,
        e: &str,
        now: Micros,
        signals: &mut Vec<ClientSignal>,
    ) {
        let w = &cfg.watch;
        let key: Arc<str> = e.into();
        let client_hash = self.hasher.hash_one(&*client.id);
        let (reading, surge) = self.endpoints.with(&key, Meter::default, |m| {
            let r = m.count(now, w.flood_factor, w.flood_min_per_minute);
            (
                r,
                m.surge(now, client_hash, w.rare_per_hour, w.surge_clients),
            )
        });
        if let Reading::Flood {
            per_minute,
            baseline,
        } = reading
        {
            signals.push(ClientSignal::Flood {
                scope: e.to_owned(),
                per_minute,
                baseline,
            });
        }
        if let Some(clients) = surge {
            signals.push(ClientSignal::EndpointSurge {
                endpoint: e.to_owned(),
                clients,
            });
        }
    }
}
