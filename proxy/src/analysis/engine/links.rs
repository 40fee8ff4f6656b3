//! Trace-linked dependencies: egress calls wait, by trace id, for the inbound call of the same
//! trace, which links them to its endpoint. Every table here is fed by traffic, so each has a
//! hard cap and counts what it lets go.

use super::Dependency;
use std::collections::{BTreeMap, HashMap};

/// Traces remembered to link egress calls to the inbound call that caused them.
pub const MAX_TRACES: usize = 10_000;
/// Destinations remembered per waiting trace.
pub const MAX_DESTINATIONS_PER_TRACE: usize = 64;
/// Endpoint-level dependencies kept.
pub const MAX_DEPENDENCIES: usize = 50_000;

/// What the caps let go, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkOverflow {
    /// Waiting traces forgotten (oldest first) to make room for a new one.
    pub traces_evicted: u64,
    /// Destinations not remembered because their trace already had the maximum.
    pub destinations_dropped: u64,
    /// Dependencies not kept because the table was full.
    pub dependencies_dropped: u64,
}

/// How many entries each table holds, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkSizes {
    /// Traces waiting for their inbound call.
    pub traces: usize,
    /// Entries of the eviction order (one per waiting trace).
    pub order: usize,
    /// Destinations remembered across every waiting trace.
    pub destinations: usize,
    /// Dependencies kept.
    pub dependencies: usize,
}

#[derive(Debug)]
struct Waiting {
    /// The trace's place in [`TraceLinks::order`].
    seq: u64,
    destinations: Vec<String>,
}

/// The waiting traces and the dependencies found so far.
#[derive(Debug, Default)]
pub struct TraceLinks {
    waiting: HashMap<[u8; 16], Waiting>,
    /// Waiting traces, oldest first; an entry leaves with its trace, whichever way it goes.
    order: BTreeMap<u64, [u8; 16]>,
    next_seq: u64,
    dependencies: HashMap<Dependency, u64>,
    overflow: LinkOverflow,
}

impl TraceLinks {
    /// An egress call of `trace` to destination node `to`.
    pub fn egress(&mut self, trace: [u8; 16], to: &str) {
        if let Some(w) = self.waiting.get_mut(&trace) {
            if w.destinations.iter().any(|d| d == to) {
                return;
            }
            if w.destinations.len() < MAX_DESTINATIONS_PER_TRACE {
                w.destinations.push(to.to_owned());
            } else {
                self.overflow.destinations_dropped += 1;
            }
            return;
        }
        while self.waiting.len() >= MAX_TRACES {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.waiting.remove(&old);
            self.overflow.traces_evicted += 1;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, trace);
        self.waiting.insert(
            trace,
            Waiting {
                seq,
                destinations: vec![to.to_owned()],
            },
        );
    }

    /// Egress calls of `trace` wait for its inbound call.
    pub fn waiting(&self, trace: &[u8; 16]) -> bool {
        self.waiting.contains_key(trace)
    }

    /// The inbound call of `trace`, served by node `service` at `endpoint` (`METHOD
    /// template`): the destinations its egress calls reached become its dependencies.
    pub fn inbound(&mut self, trace: [u8; 16], service: &str, endpoint: &str) {
        let Some(w) = self.waiting.remove(&trace) else {
            return;
        };
        self.order.remove(&w.seq);
        for to in w.destinations {
            let dep = Dependency {
                service: service.to_owned(),
                endpoint: endpoint.to_owned(),
                to,
            };
            if let Some(n) = self.dependencies.get_mut(&dep) {
                *n += 1;
            } else if self.dependencies.len() < MAX_DEPENDENCIES {
                self.dependencies.insert(dep, 1);
            } else {
                self.overflow.dependencies_dropped += 1;
            }
        }
    }

    /// Dependencies with call counts, sorted.
    pub fn dependencies(&self) -> Vec<(Dependency, u64)> {
        let mut v: Vec<_> = self
            .dependencies
            .iter()
            .map(|(d, n)| (d.clone(), *n))
            .collect();
        v.sort();
        v
    }

    /// What the caps let go.
    pub fn overflow(&self) -> LinkOverflow {
        self.overflow
    }

    /// The tables' sizes.
    pub fn sizes(&self) -> LinkSizes {
        LinkSizes {
            traces: self.waiting.len(),
            order: self.order.len(),
            destinations: self.waiting.values().map(|w| w.destinations.len()).sum(),
            dependencies: self.dependencies.len(),
        }
    }
}
