//! The `telemetry:` section: OpenTelemetry export (spans and metrics over OTLP), the sampler,
//! trace-context formats and the label caps of the Prometheus series. Keys left out of the
//! file fall back to the standard `OTEL_*` environment variables, then to defaults.

use super::context::Convert;
use super::values::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with service_name, otlp, traces, metrics and propagation"
)]
pub(crate) struct TelemetryFile {
    pub service_name: Option<String>,
    pub otlp: Option<OtlpFile>,
    #[serde(default)]
    pub traces: TracesFile,
    #[serde(default)]
    pub metrics: MetricsFile,
    #[serde(default)]
    pub propagation: PropagationFile,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with endpoint, protocol, timeout and headers"
)]
pub(crate) struct OtlpFile {
    pub endpoint: Option<String>,
    pub protocol: Option<String>,
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with enabled, sampler, sampler_arg, queue, batch and interval"
)]
pub(crate) struct TracesFile {
    pub enabled: Option<bool>,
    pub sampler: Option<String>,
    pub sampler_arg: Option<f64>,
    pub queue: Option<usize>,
    pub batch: Option<usize>,
    pub interval: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with otlp, interval and max_series"
)]
pub(crate) struct MetricsFile {
    pub otlp: Option<bool>,
    pub interval: Option<Dur>,
    pub max_series: Option<usize>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with b3")]
pub(crate) struct PropagationFile {
    pub b3: Option<bool>,
}

/// OpenTelemetry and Prometheus settings (export settings apply at the next restart; the
/// trace-context formats apply to new requests after a reload).
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Where spans and metrics go; `None` exports nothing (Prometheus `/metrics` still works).
    pub otlp: Option<OtlpConfig>,
    /// Span export.
    pub traces: TracesConfig,
    /// Metric export and label caps.
    pub metrics: MetricsConfig,
    /// Accept B3 (single `b3` header and multi `X-B3-*` headers) when no `traceparent` came.
    pub b3: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            service_name: "sightline".into(),
            otlp: None,
            traces: TracesConfig::default(),
            metrics: MetricsConfig::default(),
            b3: false,
        }
    }
}

/// The OTLP wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP over gRPC (default port 4317).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (default port 4318); the default.
    HttpProtobuf,
}

/// Where OTLP goes.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// Base URL: for gRPC the collector address, for HTTP the base to which `/v1/traces` and
    /// `/v1/metrics` are appended.
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: OtlpProtocol,
    /// Timeout of one export request.
    pub timeout: Duration,
    /// Extra headers sent with every export (authentication tokens and the like).
    pub headers: BTreeMap<String, String>,
}

/// Which traces are exported; decided from the trace id, so every Sightline in a fleet
/// decides the same for one trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampler {
    /// Follow the caller's sampled flag when there is a caller.
    pub parent_based: bool,
    /// Share of root traces kept, 0.0 to 1.0.
    pub ratio: f64,
}

/// Span export.
#[derive(Clone, Debug, PartialEq)]
pub struct TracesConfig {
    /// Whether calls become spans (when an OTLP endpoint is set).
    pub enabled: bool,
    /// The sampler.
    pub sampler: Sampler,
    /// Spans waiting for export at most; more are dropped and counted.
    pub queue: usize,
    /// Spans per export request at most.
    pub batch: usize,
    /// Longest wait before a partial batch is sent.
    pub interval: Duration,
}

impl Default for TracesConfig {
    fn default() -> Self {
        TracesConfig {
            enabled: true,
            sampler: Sampler {
                parent_based: true,
                ratio: 1.0,
            },
            queue: 4096,
            batch: 512,
            interval: Duration::from_secs(1),
        }
    }
}

/// Metric export and label caps.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    /// Whether metrics are pushed over OTLP too (when an OTLP endpoint is set).
    pub otlp: bool,
    /// How often metrics are pushed.
    pub interval: Duration,
    /// Label sets of the per-endpoint request series at most; later ones share the
    /// `overflow` label values.
    pub max_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            otlp: true,
            interval: Duration::from_secs(60),
            max_series: 2000,
        }
    }
}

/// Checks the section, filling unset keys from the `OTEL_*` environment variables.
pub(crate) fn convert(raw: Option<TelemetryFile>, cx: &mut Convert<'_>) -> TelemetryConfig {
    let raw = raw.unwrap_or_default();
    let service_name = raw
        .service_name
        .or_else(|| env(cx, "OTEL_SERVICE_NAME"))
        .unwrap_or_else(|| TelemetryConfig::default().service_name);
    let otlp = otlp(raw.otlp.unwrap_or_default(), cx);
    let traces = traces(raw.traces, cx);
    let metrics = metrics(raw.metrics, cx);
    let b3 = raw.propagation.b3.unwrap_or_else(|| {
        env(cx, "OTEL_PROPAGATORS")
            .is_some_and(|p| p.split(',').any(|x| matches!(x.trim(), "b3" | "b3multi")))
    });
    TelemetryConfig {
        service_name,
        otlp,
        traces,
        metrics,
        b3,
    }
}

/// An environment variable that is set and not blank.
fn env(cx: &Convert<'_>, name: &str) -> Option<String> {
    cx.env(name).filter(|v| !v.trim().is_empty())
}

/// A whole number from the environment variable `name`, when set.
fn env_usize(cx: &mut Convert<'_>, name: &str) -> Option<usize> {
    match env(cx, name).map(|v| v.trim().parse::<usize>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            cx.issue(name, "must be a whole number");
            None
        }
        None => None,
    }
}

/// Checks `telemetry.otlp`; `None` without an endpoint.
fn otlp(o: OtlpFile, cx: &mut Convert<'_>) -> Option<OtlpConfig> {
    let endpoint = o
        .endpoint
        .or_else(|| env(cx, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .or_else(|| env(cx, "OTEL_EXPORTER_OTLP_ENDPOINT"));
    let protocol_text = o
        .protocol
        .map(|p| ("telemetry.otlp.protocol", p))
        .or_else(|| {
            env(cx, "OTEL_EXPORTER_OTLP_PROTOCOL").map(|p| ("OTEL_EXPORTER_OTLP_PROTOCOL", p))
        });
    // http/protobuf by default, as the OTLP exporter specification recommends.
    let protocol = match protocol_text {
        None => OtlpProtocol::HttpProtobuf,
        Some((_, p)) if p.trim() == "grpc" => OtlpProtocol::Grpc,
        Some((_, p)) if p.trim() == "http/protobuf" => OtlpProtocol::HttpProtobuf,
        Some((key, p)) => {
            cx.issue(
                key,
                format!("unsupported protocol {p:?}; use grpc or http/protobuf"),
            );
            OtlpProtocol::HttpProtobuf
        }
    };
    let timeout = match o.timeout {
        Some(t) => t.0,
        None => match env(cx, "OTEL_EXPORTER_OTLP_TIMEOUT").map(|v| v.trim().parse::<u64>()) {
            Some(Ok(ms)) => Duration::from_millis(ms),
            Some(Err(_)) => {
                cx.issue(
                    "OTEL_EXPORTER_OTLP_TIMEOUT",
                    "must be a number of milliseconds",
                );
                Duration::from_secs(10)
            }
            None => Duration::from_secs(10),
        },
    };
    let headers = headers(o.headers, cx);
    let endpoint = endpoint?.trim().trim_end_matches('/').to_owned();
    match endpoint.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
            Some(OtlpConfig {
                endpoint,
                protocol,
                timeout,
                headers,
            })
        }
        _ => {
            cx.issue(
                "telemetry.otlp.endpoint",
                format!("{endpoint:?} is not an http:// or https:// URL"),
            );
            None
        }
    }
}

/// The export headers: from the file, else from `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k=v`).
fn headers(
    mut headers: BTreeMap<String, String>,
    cx: &mut Convert<'_>,
) -> BTreeMap<String, String> {
    if !headers.is_empty() {
        return headers;
    }
    let Some(h) = env(cx, "OTEL_EXPORTER_OTLP_HEADERS") else {
        return headers;
    };
    for pair in h.split(',').filter(|p| !p.trim().is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) => {
                headers.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            None => cx.issue(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("{pair:?} is not key=value"),
            ),
        }
    }
    headers
}

/// Checks `telemetry.traces`.
fn traces(t: TracesFile, cx: &mut Convert<'_>) -> TracesConfig {
    let d = TracesConfig::default();
    let sampler = sampler(t.sampler, t.sampler_arg, cx);
    let queue = t
        .queue
        .or_else(|| env_usize(cx, "OTEL_BSP_MAX_QUEUE_SIZE"))
        .unwrap_or(d.queue);
    let batch = t
        .batch
        .or_else(|| env_usize(cx, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))
        .unwrap_or(d.batch);
    if queue == 0 || batch == 0 {
        cx.issue(
            "telemetry.traces.queue",
            "queue and batch must be at least 1",
        );
    }
    let interval = t
        .interval
        .map(|d| d.0)
        .or_else(|| {
            env_usize(cx, "OTEL_BSP_SCHEDULE_DELAY").map(|ms| Duration::from_millis(ms as u64))
        })
        .unwrap_or(d.interval);
    TracesConfig {
        enabled: t.enabled.unwrap_or(true),
        sampler,
        queue: queue.max(1),
        batch: batch.max(1),
        interval: interval.max(Duration::from_millis(10)),
    }
}

/// The sampler named in the file or by `OTEL_TRACES_SAMPLER`, with its argument.
fn sampler(name: Option<String>, arg: Option<f64>, cx: &mut Convert<'_>) -> Sampler {
    let name = name.or_else(|| env(cx, "OTEL_TRACES_SAMPLER"));
    let arg = match arg {
        Some(a) => Some(a),
        None => match env(cx, "OTEL_TRACES_SAMPLER_ARG").map(|v| v.trim().parse::<f64>()) {
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                cx.issue("OTEL_TRACES_SAMPLER_ARG", "must be a number from 0 to 1");
                None
            }
            None => None,
        },
    };
    if arg.is_some_and(|a| !(0.0..=1.0).contains(&a)) {
        cx.issue(
            "telemetry.traces.sampler_arg",
            "must be a number from 0 to 1",
        );
    }
    let ratio = arg.unwrap_or(1.0).clamp(0.0, 1.0);
    let (parent_based, ratio) = match name.as_deref().map(str::trim) {
        None | Some("parentbased_always_on") => (true, 1.0),
        Some("always_on") => (false, 1.0),
        Some("always_off") => (false, 0.0),
        Some("parentbased_always_off") => (true, 0.0),
        Some("traceidratio") => (false, ratio),
        Some("parentbased_traceidratio") => (true, ratio),
        Some(other) => {
            cx.issue(
                "telemetry.traces.sampler",
                format!(
                    "unknown sampler {other:?}; use always_on, always_off, traceidratio or their parentbased_ forms"
                ),
            );
            return TracesConfig::default().sampler;
        }
    };
    Sampler {
        parent_based,
        ratio,
    }
}

/// Checks `telemetry.metrics`.
fn metrics(m: MetricsFile, cx: &mut Convert<'_>) -> MetricsConfig {
    let d = MetricsConfig::default();
    MetricsConfig {
        otlp: m.otlp.unwrap_or(d.otlp),
        interval: m
            .interval
            .map(|d| d.0)
            .or_else(|| {
                env_usize(cx, "OTEL_METRIC_EXPORT_INTERVAL")
                    .map(|ms| Duration::from_millis(ms as u64))
            })
            .unwrap_or(d.interval)
            .max(Duration::from_millis(100)),
        max_series: m.max_series.unwrap_or(d.max_series),
    }
}

#[cfg(test)]
mod tests;
