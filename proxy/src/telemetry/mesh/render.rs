//! The series on the `/metrics` page: calls, the duration and size histograms, the overflow
//! count, and the egress decisions.

use super::{Mesh, Series, SeriesKey, DURATION_MS_BUCKETS, LABELS, SIZE_BUCKETS};
use crate::metrics::{Kind, Labels, Writer};
use std::collections::BTreeMap;

impl Mesh {
    /// Writes the series: calls, the duration and size histograms, the overflow count, and
    /// the egress decisions summed over the labels they do not name.
    pub fn render(&self, w: &mut Writer) {
        let (all, overflowed) = self.snapshot();
        let labels: Vec<Labels> = all
            .iter()
            .map(|(k, _)| Labels::new(LABELS.iter().zip(k.values())))
            .collect();
        let name = "sightline_mesh_requests_total";
        w.family(
            name,
            Kind::Counter,
            "Calls per edge, route template, status and decision (Istio's istio_requests_total labels).",
        );
        for ((_, s), l) in all.iter().zip(&labels) {
            w.sample(name, l, s.requests);
        }
        let histograms: [(&str, &str, &[f64], Figures); 3] = [
            (
                "sightline_mesh_request_duration_milliseconds",
                "Call duration per edge and route template, milliseconds (istio_request_duration_milliseconds).",
                &DURATION_MS_BUCKETS,
                |s| (&s.duration[..], s.duration_sum_ms),
            ),
            (
                "sightline_mesh_request_bytes",
                "Request body size per edge and route template (istio_request_bytes).",
                &SIZE_BUCKETS,
                |s| (&s.request_bytes[..], s.request_bytes_sum as f64),
            ),
            (
                "sightline_mesh_response_bytes",
                "Response body size per edge and route template (istio_response_bytes).",
                &SIZE_BUCKETS,
                |s| (&s.response_bytes[..], s.response_bytes_sum as f64),
            ),
        ];
        for (name, help, bounds, figures) in histograms {
            w.family(name, Kind::Histogram, help);
            for ((_, s), l) in all.iter().zip(&labels) {
                let (buckets, sum) = figures(s);
                w.histogram(name, l, bounds, buckets, sum);
            }
        }
        w.single(
            "sightline_mesh_series_overflow_total",
            Kind::Counter,
            "Calls counted under the overflow series because telemetry.metrics.max_series was reached.",
            overflowed,
        );
        egress_decisions(w, &all);
    }
}

/// The buckets and the sum of one histogram of a series.
type Figures = fn(&Series) -> (&[u64], f64);

/// Egress decisions by caller, destination and enclave side.
fn egress_decisions(w: &mut Writer, all: &[(SeriesKey, Series)]) {
    let mut egress: BTreeMap<(&str, &str, &str, &str), u64> = BTreeMap::new();
    for (k, s) in all {
        if k.reporter == "source" {
            *egress
                .entry((&k.source, &k.destination_service, k.enclave, k.decision))
                .or_default() += s.requests;
        }
    }
    let name = "sightline_egress_decisions_total";
    w.family(
        name,
        Kind::Counter,
        "Egress calls by calling service, destination, enclave side and policy decision.",
    );
    for ((source, destination, enclave, decision), n) in egress {
        w.sample(
            name,
            &[
                ("source_workload", source),
                ("destination_service", destination),
                ("destination_enclave", enclave),
                ("decision", decision),
            ],
            n,
        );
    }
}
