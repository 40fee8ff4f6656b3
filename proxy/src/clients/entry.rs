//! One client's entry in the guard's client table: its rate bucket, counts for the admin API,
//! and what observation remembers of it (login failures, missing paths, endpoints).

use super::hours::UsualHours;
use super::ClientGuard;
use sightline_policy::clients::{
    ClientId, ClientKind, DistinctWindow, FailureWindow, Micros, RateState,
};

/// Most endpoints remembered per known client.
pub(super) const MAX_ENDPOINTS_PER_CLIENT: usize = 64;

/// One client's state.
#[derive(Debug)]
pub(super) struct ClientState {
    pub(super) kind: ClientKind,
    pub(super) rate: RateState,
    pub(super) requests: u64,
    pub(super) limited: u64,
    pub(super) blocked: u64,
    pub(super) errors_4xx: u64,
    pub(super) last_seen: Micros,
    /// Per login rule (its index): the failure window.
    pub(super) failures: Vec<(usize, FailureWindow)>,
    pub(super) scan: DistinctWindow,
    /// Hashes of the endpoints the client called.
    pub(super) endpoints: Vec<u64>,
    /// The hours of the day (UTC) the client has called in over the last weeks.
    pub(super) hours: UsualHours,
}

impl ClientState {
    pub(super) fn new(kind: ClientKind, now: Micros) -> Self {
        ClientState {
            kind,
            rate: RateState::default(),
            requests: 0,
            limited: 0,
            blocked: 0,
            errors_4xx: 0,
            last_seen: now,
            failures: Vec::new(),
            scan: DistinctWindow::default(),
            endpoints: Vec::new(),
            hours: UsualHours::default(),
        }
    }
}

impl ClientGuard {
    /// Runs `f` on `client`'s entry, creating it.
    pub(super) fn note(&self, client: &ClientId, f: impl FnOnce(&mut ClientState)) {
        let now = self.now();
        self.clients
            .with(&client.id, || ClientState::new(client.kind, now), f);
    }
}
