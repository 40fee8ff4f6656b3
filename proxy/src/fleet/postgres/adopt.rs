//! Alerts left owed by an instance that died: every live instance raises them again in its
//! own alerts, so its sinks deliver them, and the claim rows see that each goes out once (one
//! the dead instance delivered before it died is not sent again; one it claimed but did not
//! deliver is taken over once its claim is stale).

use super::{now_secs, Postgres, HEARTBEAT};
use crate::alerts::model::{Signal, State};
use std::collections::HashSet;
use std::sync::{Arc, Weak};

/// Alerts remembered as raised again (beyond that the memory starts over).
const REMEMBERED: usize = 10_000;

/// Starts raising the dead instances' owed alerts in `alerts`; ends when `pg` stops.
pub fn start(pg: &Arc<Postgres>, alerts: crate::alerts::Alerts) {
    tokio::spawn(run(Arc::downgrade(pg), alerts));
}

async fn run(pg: Weak<Postgres>, alerts: crate::alerts::Alerts) {
    let mut raised: HashSet<(String, u64, u64)> = HashSet::new();
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(pg) = pg.upgrade().filter(|p| !p.stopped()) else {
            return;
        };
        let view = pg.view();
        let dead: HashSet<&str> = view
            .instances
            .iter()
            .filter(|i| !i.alive)
            .map(|i| i.name.as_str())
            .collect();
        for (instance, a) in &view.alerts {
            let owed = a.delivery.values().any(|d| d.owed());
            if !owed || a.state == State::Resolved || !dead.contains(instance.as_str()) {
                continue;
            }
            if raised.len() >= REMEMBERED {
                raised.clear();
            }
            if !raised.insert((instance.clone(), a.id, a.version)) {
                continue;
            }
            let mut evidence = a.evidence.clone();
            if let Some(o) = evidence.as_object_mut() {
                o.insert("raised_by".into(), instance.clone().into());
            }
            tracing::info!(instance = %instance, kind = a.kind.as_str(), subject = %a.subject,
                "raising an alert a stopped instance still owed its sinks");
            alerts.raise(Signal {
                kind: a.kind,
                subject: a.subject.clone(),
                summary: a.summary.clone(),
                evidence,
                nodes: a.nodes.clone(),
                at: now_secs().saturating_mul(1000),
                count: 1,
                group: None,
            });
        }
    }
}
