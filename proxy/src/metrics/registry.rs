//! Named, labelled counters and gauges that any part of the proxy registers once and then bumps
//! lock-free (client protections and the like). Each is rendered on `/metrics`
//! and pushed over OTLP with the other metrics. The number of label sets is capped: past it,
//! registrations share one `overflow` series per metric and are counted.

use super::{Kind, Writer};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

/// Label sets at most across all registered metrics.
pub const MAX_SERIES: usize = 4096;

/// One metric family.
#[derive(Debug)]
pub struct Family {
    /// The help text.
    pub help: &'static str,
    /// Counter or gauge (registrations make no histograms).
    pub kind: Kind,
    /// Label pairs (sorted by how they were given) and the value.
    pub series: BTreeMap<Vec<(&'static str, String)>, Arc<AtomicU64>>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct Registry {
    families: RwLock<BTreeMap<&'static str, Family>>,
    overflowed: AtomicU64,
}

impl Registry {
    /// The counter `name{labels}`, created on first use. Call it while building state (a config,
    /// a sink) and keep the handle: bumping it is one atomic add.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Arc<AtomicU64> {
        self.get(name, help, Kind::Counter, labels)
    }

    /// The gauge `name{labels}`, created on first use; `store` the current value into it.
    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Arc<AtomicU64> {
        self.get(name, help, Kind::Gauge, labels)
    }

    fn get(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &[(&'static str, &str)],
    ) -> Arc<AtomicU64> {
        let key: Vec<(&'static str, String)> =
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        if let Ok(f) = self.families.read() {
            if let Some(c) = f.get(name).and_then(|fam| fam.series.get(&key)) {
                return c.clone();
            }
        }
        let mut f = self.families.write().unwrap_or_else(|p| p.into_inner());
        let total: usize = f.values().map(|fam| fam.series.len()).sum();
        let fam = f.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        if let Some(c) = fam.series.get(&key) {
            return c.clone();
        }
        let key = if total >= MAX_SERIES {
            self.overflowed.fetch_add(1, Relaxed);
            labels
                .iter()
                .map(|(k, _)| (*k, "overflow".to_owned()))
                .collect()
        } else {
            key
        };
        fam.series.entry(key).or_default().clone()
    }

    /// Registrations that went to an overflow series.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Relaxed)
    }

    /// Calls `f` with every family by name.
    pub fn each(&self, mut f: impl FnMut(&'static str, &Family)) {
        let fams = self.families.read().unwrap_or_else(|p| p.into_inner());
        for (name, fam) in fams.iter() {
            f(name, fam);
        }
    }

    /// Writes every family, then the count of registrations past the series cap.
    pub fn render(&self, w: &mut Writer) {
        self.each(|name, fam| {
            w.family(name, fam.kind, fam.help);
            for (labels, v) in &fam.series {
                w.sample(name, labels.as_slice(), v.load(Relaxed));
            }
        });
        w.single(
            "sightline_metric_series_overflow_total",
            Kind::Counter,
            "Metric registrations that shared an overflow series because the series cap was reached.",
            self.overflowed(),
        );
    }
}

#[cfg(test)]
mod tests;
