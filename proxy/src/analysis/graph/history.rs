//! The last hour of one edge or of everything touching one node, minute by minute, for the
//! dashboard's small charts.

use super::{Bucket, Graph};
use serde::Serialize;

/// One minute of traffic.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MinuteView {
    /// Unix seconds at the start of the minute.
    pub at: u64,
    /// Calls.
    pub count: u64,
    /// 5xx answers and calls without an answer.
    pub errors: u64,
    /// Calls refused by policy.
    pub blocked: u64,
    /// 90th percentile latency, milliseconds (0 without calls).
    pub p90_ms: f64,
}

impl Graph {
    /// The 60 minutes up to `now` (unix seconds) of the edges that `select` picks by
    /// (caller, callee); `None` when it picks none.
    pub fn history(
        &self,
        now: u64,
        select: impl Fn(&str, &str) -> bool,
    ) -> Option<Vec<MinuteView>> {
        let edges: Vec<_> = self
            .edges
            .iter()
            .filter(|((from, to), _)| select(from, to))
            .map(|(_, e)| e)
            .collect();
        if edges.is_empty() {
            return None;
        }
        let last = now / 60;
        let minutes = (last.saturating_sub(59)..=last)
            .map(|m| {
                let mut total = Bucket::default();
                for e in &edges {
                    for (_, series) in self.endpoints(e) {
                        if let Some(b) = series.minute(m) {
                            total.merge(b);
                        }
                    }
                }
                MinuteView {
                    at: m * 60,
                    count: total.count,
                    errors: total.e5xx,
                    blocked: total.blocked,
                    p90_ms: if total.count == 0 {
                        0.0
                    } else {
                        total.latency.quantile(0.9)
                    },
                }
            })
            .collect();
        Some(minutes)
    }
}

#[cfg(test)]
mod tests;
