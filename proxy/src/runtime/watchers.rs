//! Watchers the running proxy keeps beside its listeners: the client list files, re-read when
//! they change.

use crate::state::Shared;
use std::sync::Arc;
use std::time::Duration;

/// Re-reads changed list files each second until the proxy stops.
pub(super) async fn watch_lists(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let active = shared.active();
        let cfg = &active.config.clients;
        if cfg.deny_lists.is_empty() && cfg.allow_lists.is_empty() && !shared.clients.has_lists() {
            continue;
        }
        shared.clients.refresh_lists(cfg);
    }
}
