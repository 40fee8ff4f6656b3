//! Detection on a fleet's totals: with a shared store, each instance hands its closed steps
//! to the fleet (which sums them over the live instances) and raises no statistical anomaly
//! of its own slice; the anomalies of the fleet's totals come back from the instance elected
//! to detect, and are raised there like any other finding.

use super::Analysis;
use crate::analysis::baseline::MinuteSample;
use crate::analysis::watch::Fired;
use std::sync::Arc;

/// Where an instance's closed steps go, and the fleet's anomalies come from.
pub trait FleetDetection: Send + Sync + std::fmt::Debug {
    /// This instance's samples of a closed step (endpoints with calls), as `(key, sample)`.
    /// Must not block.
    fn closed(&self, samples: Vec<(String, MinuteSample)>);
    /// The anomalies of the fleet's totals found since the last call, each with its subject
    /// (only on the instance that detects for the fleet).
    fn take(&self) -> Vec<Fired>;
}

impl Analysis {
    /// Detects on the fleet's totals through `fleet` instead of on this instance's slice.
    pub fn set_fleet_detection(&mut self, fleet: Arc<dyn FleetDetection>) {
        self.watches.export_closed();
        self.fleet = Some(fleet);
    }

    /// The anomalies to raise for the steps just closed: this instance's own (`fired`), or,
    /// in a fleet, the fleet's.
    pub(super) fn fleet_anomalies(&mut self, fired: Vec<Fired>) -> Vec<Fired> {
        let Some(fleet) = &self.fleet else {
            return fired;
        };
        let closed = self.watches.take_closed();
        if !closed.is_empty() {
            fleet.closed(closed);
        }
        fleet.take()
    }
}
