//! OpenTelemetry and Prometheus export. The recorder task hands every finished call here (off
//! the data path): it becomes a span on a bounded export queue (when an OTLP endpoint is set
//! and the sampler keeps the trace) and is counted in the per-edge series of [`mesh`]. Metrics
//! go out on `/metrics` (written with [`crate::metrics::Writer`]) and, when configured, over
//! OTLP ([`otlp_metrics`], which also pushes the labelled counters other parts of the proxy
//! register in [`Registry`]).

pub mod export;
pub mod mesh;
pub mod otlp_metrics;
pub mod span;

pub use crate::metrics::Registry;

use crate::config::TelemetryConfig;
// The service name of egress calls from an unknown source; one line to change when it moves.
use crate::metrics::{Kind, Writer};
use crate::record::counters::Counters;
use crate::record::{CallRecord, Direction};
use opentelemetry::{InstrumentationScope, KeyValue};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Span pipeline counters.
#[derive(Debug, Default)]
pub struct TelemetryStats {
    /// Spans put on the export queue.
    pub spans_queued: AtomicU64,
    /// Spans dropped because the export queue was full.
    pub spans_dropped: AtomicU64,
    /// Spans the collector accepted.
    pub spans_exported: AtomicU64,
    /// Spans lost to failed export requests.
    pub spans_failed: AtomicU64,
    /// Failed export requests.
    pub export_errors: AtomicU64,
    /// Calls not exported because the sampler dropped their trace.
    pub spans_unsampled: AtomicU64,
}

/// Everything the recorder task needs to export a call.
#[derive(Debug)]
pub struct Telemetry {
    config: TelemetryConfig,
    spans: Option<export::SpanQueue>,
    metrics: Option<otlp_metrics::OtlpMetrics>,
    scope: InstrumentationScope,
    /// The per-edge request series.
    pub mesh: Arc<mesh::Mesh>,
    /// Span pipeline counters.
    pub stats: Arc<TelemetryStats>,
}

impl Telemetry {
    /// Starts the exporters `config` asks for on the current runtime.
    pub fn start(config: &TelemetryConfig, counters: Arc<Counters>) -> Telemetry {
        let mut t = Telemetry::disabled(config);
        let Some(otlp) = config.otlp.clone() else {
            return t;
        };
        if config.traces.enabled {
            t.spans = Some(export::SpanQueue::start(
                otlp.clone(),
                &config.traces,
                config.service_name.clone(),
                t.stats.clone(),
            ));
        }
        if config.metrics.otlp {
            t.metrics = otlp_metrics::OtlpMetrics::start(
                &otlp,
                config.metrics.interval,
                &config.service_name,
                counters,
                &t,
            );
        }
        tracing::info!(
            endpoint = %otlp.endpoint,
            protocol = ?otlp.protocol,
            traces = t.spans.is_some(),
            metrics = t.metrics.is_some(),
            "OpenTelemetry export on"
        );
        t
    }

    /// On shutdown: sends the queued spans at once and waits for them within `within`.
    /// Returns whether every queued span was exported (or counted as failed) in time.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        match &self.spans {
            Some(q) => q.flush(within).await,
            None => true,
        }
    }

    /// No OTLP export; the per-edge series are still kept for `/metrics`.
    pub fn disabled(config: &TelemetryConfig) -> Telemetry {
        Telemetry {
            config: config.clone(),
            spans: None,
            metrics: None,
            scope: InstrumentationScope::builder("sightline")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            mesh: Arc::new(mesh::Mesh::new(config.metrics.max_series)),
            stats: Arc::new(TelemetryStats::default()),
        }
    }

    /// Counts and exports one finished call; `template` is its route template, when the
    /// analysis matched one. Never waits.
    pub fn observe(&self, rec: &CallRecord, template: Option<&str>) {
        if let Some(m) = &self.metrics {
            let key = self.mesh.observe(rec, template);
            let attrs: Vec<KeyValue> = mesh::LABELS
                .iter()
                .zip(key.values())
                .map(|(name, v)| KeyValue::new(*name, v))
                .collect();
            m.duration.record(rec.duration.as_secs_f64() * 1e3, &attrs);
            http_durations(m, rec, template);
        } else {
            self.mesh.count(rec, template);
        }
        let Some(spans) = &self.spans else { return };
        if !span::sampled(&self.config.traces.sampler, rec) {
            self.stats.spans_unsampled.fetch_add(1, Relaxed);
            return;
        }
        spans.push(
            self.span_service(rec),
            span::build(rec, template, &self.scope),
        );
    }

    /// The service a call's span speaks for, like a sidecar of that service: the callee for
    /// inbound calls, the caller for egress calls, else the proxy itself.
    fn span_service(&self, rec: &CallRecord) -> Arc<str> {
        match (rec.direction, &rec.service) {
            (_, Some(s)) => s.clone(),
            (Direction::Egress, None) => Arc::from(crate::record::UNKNOWN_SOURCE),
            (Direction::Inbound, None) => Arc::from(self.config.service_name.as_str()),
        }
    }

    /// Spans waiting for export.
    pub fn span_queue_depth(&self) -> usize {
        self.spans.as_ref().map_or(0, export::SpanQueue::depth)
    }

    /// The span queue's capacity (0 when spans are not exported).
    pub fn span_queue_capacity(&self) -> usize {
        self.spans.as_ref().map_or(0, |_| self.config.traces.queue)
    }

    /// Writes the telemetry families: the per-edge series, then the span pipeline's.
    pub fn render(&self, w: &mut Writer) {
        self.mesh.render(w);
        let s = &self.stats;
        let rows: [(&str, Kind, &str, u64); 8] = [
            (
                "sightline_spans_queued_total",
                Kind::Counter,
                "Spans put on the OTLP export queue.",
                s.spans_queued.load(Relaxed),
            ),
            (
                "sightline_spans_dropped_total",
                Kind::Counter,
                "Spans dropped because the export queue was full.",
                s.spans_dropped.load(Relaxed),
            ),
            (
                "sightline_spans_exported_total",
                Kind::Counter,
                "Spans the collector accepted.",
                s.spans_exported.load(Relaxed),
            ),
            (
                "sightline_spans_failed_total",
                Kind::Counter,
                "Spans lost to failed or timed-out export requests.",
                s.spans_failed.load(Relaxed),
            ),
            (
                "sightline_span_export_errors_total",
                Kind::Counter,
                "Failed span export requests.",
                s.export_errors.load(Relaxed),
            ),
            (
                "sightline_spans_unsampled_total",
                Kind::Counter,
                "Calls not exported because the sampler dropped their trace.",
                s.spans_unsampled.load(Relaxed),
            ),
            (
                "sightline_span_queue_depth",
                Kind::Gauge,
                "Spans waiting for export.",
                self.span_queue_depth() as u64,
            ),
            (
                "sightline_span_queue_capacity",
                Kind::Gauge,
                "Capacity of the span export queue.",
                self.span_queue_capacity() as u64,
            ),
        ];
        for (name, kind, help, v) in rows {
            w.single(name, kind, help, v);
        }
    }
}

/// Records the call under OpenTelemetry's HTTP metric names, with the semantic conventions'
/// attributes (bounded: the method set, route templates, status codes).
fn http_durations(m: &otlp_metrics::OtlpMetrics, rec: &CallRecord, template: Option<&str>) {
    let secs = rec.duration.as_secs_f64();
    let mut attrs = Vec::with_capacity(6);
    attrs.push(KeyValue::new(
        "http.request.method",
        mesh::method(&rec.method),
    ));
    if let Some(s) = rec.status {
        attrs.push(KeyValue::new("http.response.status_code", i64::from(s)));
    }
    if let Some(e) = rec.error {
        attrs.push(KeyValue::new("error.type", e));
    } else if rec.status.is_some_and(|s| s >= 500) {
        attrs.push(KeyValue::new(
            "error.type",
            rec.status.unwrap_or_default().to_string(),
        ));
    }
    let forwarded = rec.upstream.is_some();
    let mut server = attrs.clone();
    if let Some(t) = template.filter(|_| !rec.protocol.opaque()) {
        server.push(KeyValue::new("http.route", t.to_owned()));
    }
    server.push(KeyValue::new(
        "url.scheme",
        if rec.tls { "https" } else { "http" },
    ));
    m.server_duration.record(secs, &server);
    if forwarded {
        let mut client = attrs;
        match rec.direction {
            // Inbound: the service is the server; egress: the destination host.
            Direction::Inbound => {
                if let Some(s) = &rec.service {
                    client.push(KeyValue::new("server.address", s.to_string()));
                }
            }
            Direction::Egress => {
                client.push(KeyValue::new("server.address", rec.host.clone()));
                if let Some(p) = rec.dest_port {
                    client.push(KeyValue::new("server.port", i64::from(p)));
                }
            }
        }
        m.client_duration.record(secs, &client);
    }
}
