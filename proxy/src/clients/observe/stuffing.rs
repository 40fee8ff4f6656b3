//! Credential stuffing: failed logins on one login route from `watch.stuffing_clients`
//! distinct clients within `watch.stuffing_within`, whoever they are.

use crate::clients::{ClientGuard, ClientSignal};
use crate::config::clients::ClientsConfig;
use sightline_policy::clients::{DistinctWindow, Micros};
use std::hash::BuildHasher;
use std::sync::Arc;

impl ClientGuard {
    /// Notes `accountable` failing on login rule `rule`; a signal when the distinct failing
    /// clients reach the count (the window then starts over).
    pub(super) fn stuffing(
        &self,
        cfg: &ClientsConfig,
        rule: usize,
        accountable: &Arc<str>,
        now: Micros,
    ) -> Option<ClientSignal> {
        let w = &cfg.watch;
        let n = {
            let mut all = self.stuffing.lock().unwrap_or_else(|p| p.into_inner());
            if all.len() < cfg.logins.len() {
                all.resize_with(cfg.logins.len(), DistinctWindow::default);
            }
            let win = &mut all[rule];
            let n = win.note(
                self.hasher.hash_one(&**accountable),
                now,
                w.stuffing_within,
                w.stuffing_clients as usize,
            );
            if n >= w.stuffing_clients as usize {
                win.clear();
            }
            n
        };
        (n >= w.stuffing_clients as usize).then(|| ClientSignal::CredentialStuffing {
            route: cfg.logins[rule].route.label(),
            clients: n as u32,
        })
    }
}
