//! Metrics over OTLP: the same numbers `/metrics` shows, read by observable instruments at each
//! push (no extra work on the data path), plus the per-edge duration histogram recorded by the
//! recorder task. Pushed from a task on the tokio runtime every `telemetry.metrics.interval`.

use super::{Telemetry, TelemetryStats};
use crate::config::{OtlpConfig, OtlpProtocol};
use crate::record::counters::Counters;
use crate::record::StatusClass;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use sightline_policy::Decision;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The running OTLP metrics pipeline.
#[derive(Debug)]
pub struct OtlpMetrics {
    provider: SdkMeterProvider,
    /// Per-edge call duration, milliseconds.
    pub duration: Histogram<f64>,
    /// OpenTelemetry's `http.server.request.duration` (seconds): every call Sightline served.
    pub server_duration: Histogram<f64>,
    /// OpenTelemetry's `http.client.request.duration` (seconds): every call Sightline
    /// forwarded to an upstream or destination.
    pub client_duration: Histogram<f64>,
}

/// Bucket bounds (seconds) of the OpenTelemetry HTTP duration histograms: the semantic
/// conventions' advice, then on past the default request timeout (30 s) to five minutes.
pub const HTTP_DURATION_BUCKETS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

impl OtlpMetrics {
    /// Builds the exporter and registers the instruments; `None` (logged) when the exporter
    /// cannot be built.
    pub fn start(
        otlp: &OtlpConfig,
        interval: std::time::Duration,
        proxy_name: &str,
        counters: Arc<Counters>,
        telemetry: &Telemetry,
    ) -> Option<OtlpMetrics> {
        let built = match otlp.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(otlp.endpoint.clone())
                .with_timeout(otlp.timeout)
                .with_metadata(super::export::metadata(otlp))
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(format!("{}/v1/metrics", otlp.endpoint))
                .with_timeout(otlp.timeout)
                .with_headers(otlp.headers.clone().into_iter().collect())
                .build(),
        };
        let exporter = match built {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, endpoint = %otlp.endpoint, "cannot build the metric exporter");
                return None;
            }
        };
        let reader = PeriodicReader::builder(exporter, opentelemetry_sdk::runtime::Tokio)
            .with_interval(interval)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_resource(super::export::resource(proxy_name, proxy_name))
            .with_reader(reader)
            .build();
        let meter = provider.meter("sightline");
        register(&meter, counters, telemetry);
        let duration = meter
            .f64_histogram("sightline.mesh.request.duration")
            .with_unit("ms")
            .with_description("Call duration per edge and route template.")
            .with_boundaries(super::mesh::DURATION_MS_BUCKETS.to_vec())
            .build();
        let server_duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(HTTP_DURATION_BUCKETS.to_vec())
            .build();
        let client_duration = meter
            .f64_histogram("http.client.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP client requests.")
            .with_boundaries(HTTP_DURATION_BUCKETS.to_vec())
            .build();
        Some(OtlpMetrics {
            provider,
            duration,
            server_duration,
            client_duration,
        })
    }
}

impl Drop for OtlpMetrics {
    // The provider's shutdown blocks until the push task answers; on a runtime thread that
    // could wait on itself, so it runs on a thread of its own (the last push is attempted
    // while the runtime lives).
    fn drop(&mut self) {
        let provider = self.provider.clone();
        let spawned = std::thread::Builder::new()
            .name("otlp-metrics-stop".into())
            .spawn(move || {
                if let Err(e) = provider.shutdown() {
                    tracing::debug!(error = %e, "metric exporter shutdown");
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "cannot stop the metric exporter");
        }
    }
}

fn register(meter: &Meter, counters: Arc<Counters>, telemetry: &Telemetry) {
    let c = counters.clone();
    meter
        .u64_observable_counter("sightline.requests")
        .with_description("Finished calls by direction, service, status class and decision.")
        .with_callback(move |o| {
            for ((dir, name), sc) in c.all_services() {
                for d in Decision::ALL {
                    for class in StatusClass::ALL {
                        let n = sc.requests(d, class);
                        if n > 0 {
                            o.observe(
                                n,
                                &[
                                    KeyValue::new("direction", dir.as_str()),
                                    KeyValue::new("service", name.clone()),
                                    KeyValue::new("status_class", class.as_str()),
                                    KeyValue::new("decision", d.as_str()),
                                ],
                            );
                        }
                    }
                }
            }
        })
        .build();

    let mesh = telemetry.mesh.clone();
    meter
        .u64_observable_counter("sightline.mesh.requests")
        .with_description("Calls per edge, route template, status and decision.")
        .with_callback(move |o| {
            let (all, _) = mesh.snapshot();
            for (k, s) in all {
                let attrs: Vec<KeyValue> = super::mesh::LABELS
                    .iter()
                    .zip(k.values())
                    .map(|(name, v)| KeyValue::new(*name, v))
                    .collect();
                o.observe(s.requests, &attrs);
            }
        })
        .build();

    let c = counters.clone();
    let stats: Arc<TelemetryStats> = telemetry.stats.clone();
    meter
        .u64_observable_counter("sightline.pipeline")
        .with_description("Records and spans through the recorder and exporter, by stage.")
        .with_callback(move |o| {
            let stage = |s: &'static str| [KeyValue::new("stage", s)];
            o.observe(c.records_queued.load(Relaxed), &stage("records_queued"));
            o.observe(c.records_dropped.load(Relaxed), &stage("records_dropped"));
            o.observe(
                c.records_processed.load(Relaxed),
                &stage("records_processed"),
            );
            o.observe(stats.spans_queued.load(Relaxed), &stage("spans_queued"));
            o.observe(stats.spans_dropped.load(Relaxed), &stage("spans_dropped"));
            o.observe(stats.spans_exported.load(Relaxed), &stage("spans_exported"));
            o.observe(stats.spans_failed.load(Relaxed), &stage("spans_failed"));
        })
        .build();

    let c = counters.clone();
    meter
        .u64_observable_counter("sightline.registered")
        .with_description("Registered protection, sink and other labelled counters.")
        .with_callback(move |o| observe_registered(o, &c, crate::metrics::Kind::Counter))
        .build();
    meter
        .u64_observable_gauge("sightline.registered.gauges")
        .with_description("Registered labelled gauges.")
        .with_callback(move |o| observe_registered(o, &counters, crate::metrics::Kind::Gauge))
        .build();
}

/// Observes every registered series of one kind, named by a `metric` attribute.
fn observe_registered(
    o: &dyn opentelemetry::metrics::AsyncInstrument<u64>,
    counters: &Counters,
    kind: crate::metrics::Kind,
) {
    counters.registry.each(|name, fam| {
        if fam.kind != kind {
            return;
        }
        for (labels, v) in &fam.series {
            let mut attrs = vec![KeyValue::new("metric", name)];
            attrs.extend(labels.iter().map(|(k, v)| KeyValue::new(*k, v.clone())));
            o.observe(v.load(Relaxed), &attrs);
        }
    });
}
