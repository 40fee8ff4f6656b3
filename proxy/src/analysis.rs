//! Traffic analysis: route templates, call graph, baselines and anomalies.

pub mod baseline;
pub mod engine;
pub mod graph;
pub mod keyed;
pub mod replay;
pub mod sketch;
pub mod template;
pub mod watch;
