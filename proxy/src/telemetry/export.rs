//! The span pipeline: a bounded queue filled by the recorder task without waiting, and one
//! export task that sends batches over OTLP (gRPC or HTTP/protobuf). Spans are grouped by the
//! service they speak for, each group under its own `service.name` resource, so trace
//! back-ends draw one node per service. A full queue drops the span and counts it.

use super::TelemetryStats;
use crate::config::{OtlpConfig, OtlpProtocol, TracesConfig};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Export requests in flight at most; the next batch is gathered while they are sent.
const IN_FLIGHT: usize = 4;

/// Services with their own exporter at most; spans of later ones are sent under the proxy's
/// own service name.
const MAX_SERVICES: usize = 256;

/// The sending side, held by the recorder task.
#[derive(Debug)]
pub struct SpanQueue {
    tx: mpsc::Sender<(Arc<str>, SpanData)>,
    stats: Arc<TelemetryStats>,
    /// Tells the export task to send what it holds now instead of at the batch interval.
    flush: Arc<tokio::sync::Notify>,
}

impl SpanQueue {
    /// Starts the export task on the current runtime; it ends when the queue is dropped.
    pub fn start(
        otlp: OtlpConfig,
        traces: &TracesConfig,
        proxy_name: String,
        stats: Arc<TelemetryStats>,
    ) -> SpanQueue {
        let (tx, rx) = mpsc::channel(traces.queue);
        let flush = Arc::new(tokio::sync::Notify::new());
        let task = ExportTask {
            flush: flush.clone(),
            otlp,
            proxy_name,
            batch: traces.batch,
            interval: traces.interval,
            exporters: HashMap::new(),
            stats: stats.clone(),
            in_flight: tokio::task::JoinSet::new(),
        };
        tokio::spawn(task.run(rx));
        SpanQueue { tx, stats, flush }
    }

    /// On shutdown: exports what is queued at once and waits, within `within`, until every
    /// queued span was exported or counted as failed. Returns whether that happened in time.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = Instant::now() + within;
        let settled = || {
            let s = &self.stats;
            s.spans_exported.load(Relaxed) + s.spans_failed.load(Relaxed)
                >= s.spans_queued.load(Relaxed)
        };
        while !settled() {
            self.flush.notify_one();
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Queues a span; never waits. A full queue drops it and counts the drop.
    pub fn push(&self, service: Arc<str>, span: SpanData) {
        match self.tx.try_send((service, span)) {
            Ok(()) => self.stats.spans_queued.fetch_add(1, Relaxed),
            Err(_) => self.stats.spans_dropped.fetch_add(1, Relaxed),
        };
    }

    /// Spans waiting for export.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }
}

struct ExportTask {
    otlp: OtlpConfig,
    proxy_name: String,
    batch: usize,
    interval: std::time::Duration,
    exporters: HashMap<Arc<str>, Option<Arc<opentelemetry_otlp::SpanExporter>>>,
    stats: Arc<TelemetryStats>,
    in_flight: tokio::task::JoinSet<()>,
    flush: Arc<tokio::sync::Notify>,
}

impl ExportTask {
    async fn run(mut self, mut rx: mpsc::Receiver<(Arc<str>, SpanData)>) {
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            let Some(first) = rx.recv().await else {
                while self.in_flight.join_next().await.is_some() {}
                return;
            };
            batch.push(first);
            let deadline = Instant::now() + self.interval;
            let mut closed = false;
            while batch.len() < self.batch {
                let next = tokio::select! {
                    next = tokio::time::timeout_at(deadline, rx.recv()) => next,
                    () = self.flush.notified() => break,
                };
                match next {
                    Ok(Some(s)) => batch.push(s),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.export(std::mem::take(&mut batch)).await;
            if closed {
                while self.in_flight.join_next().await.is_some() {}
                return;
            }
        }
    }

    async fn export(&mut self, batch: Vec<(Arc<str>, SpanData)>) {
        let mut groups: HashMap<Arc<str>, Vec<SpanData>> = HashMap::new();
        for (service, span) in batch {
            let service =
                if self.exporters.contains_key(&service) || self.exporters.len() < MAX_SERVICES {
                    service
                } else {
                    Arc::from(self.proxy_name.as_str())
                };
            groups.entry(service).or_default().push(span);
        }
        for (service, spans) in groups {
            let n = spans.len() as u64;
            let exporter = self
                .exporters
                .entry(service.clone())
                .or_insert_with(|| build(&self.otlp, &service, &self.proxy_name));
            let Some(exporter) = exporter.clone() else {
                self.stats.spans_failed.fetch_add(n, Relaxed);
                continue;
            };
            while self.in_flight.len() >= IN_FLIGHT {
                self.in_flight.join_next().await;
            }
            let stats = self.stats.clone();
            // The exporter has its own request timeout; this bound only guards against a
            // transport that never answers.
            let limit = self.otlp.timeout + std::time::Duration::from_secs(1);
            self.in_flight.spawn(async move {
                match tokio::time::timeout(limit, exporter.export(spans)).await {
                    Ok(Ok(())) => {
                        stats.spans_exported.fetch_add(n, Relaxed);
                    }
                    Ok(Err(e)) => {
                        stats.spans_failed.fetch_add(n, Relaxed);
                        stats.export_errors.fetch_add(1, Relaxed);
                        tracing::warn!(error = %e, spans = n, "span export failed");
                    }
                    Err(_) => {
                        stats.spans_failed.fetch_add(n, Relaxed);
                        stats.export_errors.fetch_add(1, Relaxed);
                        tracing::warn!(spans = n, "span export timed out");
                    }
                }
            });
        }
    }
}

/// The resource a service's spans are sent under.
pub fn resource(service: &str, proxy_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("sightline.proxy", proxy_name.to_owned()))
        .build()
}

fn build(
    otlp: &OtlpConfig,
    service: &str,
    proxy_name: &str,
) -> Option<Arc<opentelemetry_otlp::SpanExporter>> {
    let built = match otlp.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(otlp.endpoint.clone())
            .with_timeout(otlp.timeout)
            .with_metadata(metadata(otlp))
            .build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", otlp.endpoint))
            .with_timeout(otlp.timeout)
            .with_headers(otlp.headers.clone().into_iter().collect())
            .build(),
    };
    match built {
        Ok(mut e) => {
            e.set_resource(&resource(service, proxy_name));
            Some(Arc::new(e))
        }
        Err(e) => {
            tracing::error!(error = %e, endpoint = %otlp.endpoint, "cannot build the span exporter");
            None
        }
    }
}

/// The configured headers as gRPC metadata (invalid names or values are skipped and logged).
pub fn metadata(otlp: &OtlpConfig) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in &otlp.headers {
        match (
            http::HeaderName::try_from(k.as_str()),
            http::HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                h.insert(k, v);
            }
            _ => tracing::warn!(header = %k, "skipping an invalid OTLP header"),
        }
    }
    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(h)
}
