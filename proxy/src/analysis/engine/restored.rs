//! What a previous run left behind, as the store reads it back for the analysis to continue.

use super::Finding;
use crate::analysis::graph::Node;

/// What a previous run left behind.
#[derive(Debug, Default)]
pub struct Restored {
    /// Known nodes.
    pub nodes: Vec<Node>,
    /// Known edges: (from, to, first seen).
    pub edges: Vec<(String, String, u64)>,
    /// Known endpoints: (node, method, template).
    pub endpoints: Vec<(String, String, String)>,
    /// Recent findings, oldest first.
    pub findings: Vec<Finding>,
    /// Baseline snapshots by endpoint key.
    pub baselines: Vec<(String, String)>,
    /// Client bans and remembered strikes: (client, ban).
    pub bans: Vec<(String, sightline_policy::clients::Ban)>,
    /// The last day's minutes by endpoint key, oldest first: (key, serialised totals).
    pub minutes: Vec<(String, String)>,
}
