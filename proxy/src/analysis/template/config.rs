//! Limits of the route templater.

/// How far templating may grow. Every map here is fed by the network, so each has a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateConfig {
    /// A position (same host, same preceding template segments) that has seen more distinct
    /// plain words than this collapses to `{param}`. Clamped to `1..=1024`. Default 25.
    pub merge_threshold: usize,
    /// Learned templates per host; past it, new shapes get `/{overflow}`. At least 1.
    /// Default 1,000.
    pub max_templates_per_host: usize,
    /// Hosts with their own learned templates; further hosts share one overflow bucket.
    /// Default 1,000.
    pub max_hosts: usize,
}

impl TemplateConfig {
    /// The highest merge threshold: it bounds the words tracked per position.
    pub const MAX_MERGE_THRESHOLD: usize = 1024;

    /// This config with its values brought into range.
    pub(super) fn clamped(self) -> Self {
        TemplateConfig {
            merge_threshold: self.merge_threshold.clamp(1, Self::MAX_MERGE_THRESHOLD),
            max_templates_per_host: self.max_templates_per_host.max(1),
            max_hosts: self.max_hosts,
        }
    }
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig {
            merge_threshold: 25,
            max_templates_per_host: 1_000,
            max_hosts: 1_000,
        }
    }
}
