//! `/metrics` in the Prometheus text format, rendered from the exact counters.

mod clients;
mod process;

use crate::record::counters::DURATION_BUCKETS;
use crate::record::StatusClass;
use crate::runtime::Shared;
use sightline_policy::Decision;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Renders every metric.
pub fn render(shared: &Shared) -> String {
    let mut out = String::with_capacity(4096);
    let rec = &shared.recorder;
    let c = rec.counters();
    let services = c.all_services();

    family(
        &mut out,
        "sightline_requests_total",
        "counter",
        "Finished calls by direction, service, status class and decision.",
    );
    for ((dir, name), sc) in &services {
        for d in Decision::ALL {
            for class in StatusClass::ALL {
                let n = sc.requests(d, class);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "sightline_requests_total{{direction=\"{}\",service=\"{}\",status_class=\"{}\",decision=\"{}\"}} {n}",
                        dir.as_str(),
                        escape(name),
                        class.as_str(),
                        d.as_str()
                    );
                }
            }
        }
    }

    family(
        &mut out,
        "sightline_request_duration_seconds",
        "histogram",
        "Call duration until the end of the response.",
    );
    for ((dir, name), sc) in &services {
        if sc.total() == 0 {
            continue;
        }
        let (buckets, sum) = sc.durations();
        let labels = format!(
            "direction=\"{}\",service=\"{}\"",
            dir.as_str(),
            escape(name)
        );
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = DURATION_BUCKETS
                .get(i)
                .map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "sightline_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "sightline_request_duration_seconds_sum{{{labels}}} {sum}"
        );
        let _ = writeln!(
            out,
            "sightline_request_duration_seconds_count{{{labels}}} {cumulative}"
        );
    }

    family(
        &mut out,
        "sightline_request_bytes_total",
        "counter",
        "Request body bytes received from callers.",
    );
    for ((dir, name), sc) in &services {
        let (inb, _) = sc.bytes();
        if sc.total() > 0 {
            let _ = writeln!(
                out,
                "sightline_request_bytes_total{{direction=\"{}\",service=\"{}\"}} {inb}",
                dir.as_str(),
                escape(name)
            );
        }
    }
    family(
        &mut out,
        "sightline_response_bytes_total",
        "counter",
        "Response body bytes sent to callers.",
    );
    for ((dir, name), sc) in &services {
        let (_, outb) = sc.bytes();
        if sc.total() > 0 {
            let _ = writeln!(
                out,
                "sightline_response_bytes_total{{direction=\"{}\",service=\"{}\"}} {outb}",
                dir.as_str(),
                escape(name)
            );
        }
    }

    let active = shared.active();
    family(
        &mut out,
        "sightline_upstreams_healthy",
        "gauge",
        "Upstreams in rotation per service.",
    );
    for (name, pool) in &active.pools {
        let _ = writeln!(
            out,
            "sightline_upstreams_healthy{{service=\"{}\"}} {}",
            escape(name),
            pool.healthy()
        );
    }

    let mut scalars: Vec<(&str, &str, &str, u64)> = vec![
        ("sightline_record_queue_depth", "gauge", "Records waiting for the recorder.", rec.queue_depth() as u64),
        ("sightline_record_queue_capacity", "gauge", "Capacity of the record queue.", rec.queue_capacity() as u64),
        ("sightline_records_queued_total", "counter", "Records handed to the recorder.", c.records_queued.load(Relaxed)),
        ("sightline_records_dropped_total", "counter", "Records dropped because the queue was full (the counters above still count those calls).", c.records_dropped.load(Relaxed)),
        ("sightline_records_processed_total", "counter", "Records the recorder has processed.", c.records_processed.load(Relaxed)),
        ("sightline_connections_accepted_total", "counter", "Inbound client connections accepted.", c.connections_accepted.load(Relaxed)),
        ("sightline_connections_rejected_total", "counter", "Inbound connections refused at limits.max_connections.", c.connections_rejected.load(Relaxed)),
        ("sightline_egress_connections_rejected_total", "counter", "Egress connections refused at egress.max_connections.", c.egress_connections_rejected.load(Relaxed)),
        ("sightline_admin_connections_rejected_total", "counter", "Admin connections refused at admin.max_connections.", c.admin_connections_rejected.load(Relaxed)),
        ("sightline_connections_active", "gauge", "Inbound client connections open now (upgraded tunnels included).", shared.inbound_conns.count() as u64),
        ("sightline_egress_connections_active", "gauge", "Egress connections open now (CONNECT tunnels included).", shared.egress_conns.count() as u64),
        ("sightline_tls_handshake_failures_total", "counter", "TLS handshakes (inbound and egress listeners) that failed or timed out.", c.tls_handshake_failures.load(Relaxed)),
        ("sightline_upstream_ejections_total", "counter", "Upstreams taken out of rotation after consecutive failures.", c.upstream_ejections.load(Relaxed)),
        ("sightline_config_reloads_total", "counter", "Config reloads applied.", c.reloads_ok.load(Relaxed)),
        ("sightline_config_reload_failures_total", "counter", "Config reloads rejected (the running config kept serving).", c.reloads_failed.load(Relaxed)),
    ];
    if let Some(store) = rec.store() {
        let s = &store.stats;
        scalars.extend([
            (
                "sightline_store_written_total",
                "counter",
                "Operations written to the embedded store.",
                s.written.load(Relaxed),
            ),
            (
                "sightline_store_dropped_total",
                "counter",
                "Store writes dropped (queue or retry buffer full).",
                s.dropped.load(Relaxed),
            ),
            (
                "sightline_store_errors_total",
                "counter",
                "Failed store batch writes (retried).",
                s.errors.load(Relaxed),
            ),
            (
                "sightline_store_pending",
                "gauge",
                "Store writes waiting.",
                s.pending.load(Relaxed),
            ),
        ]);
    }
    let (detector_overflow, templates, links, shadow) = {
        let a = rec.analysis();
        (
            a.watch_overflow(),
            a.template_stats(),
            a.link_overflow(),
            a.shadow_counts().0,
        )
    };
    scalars.extend([
        (
            "sightline_analysis_baseline_overflow_total",
            "counter",
            "Endpoints left without a baseline (cap reached).",
            detector_overflow,
        ),
        (
            "sightline_analysis_traces_evicted_total",
            "counter",
            "Traces with egress calls forgotten before their inbound call came (cap reached).",
            links.traces_evicted,
        ),
        (
            "sightline_analysis_link_overflow_total",
            "counter",
            "Destinations and dependencies not kept by trace linking (caps reached).",
            links.destinations_dropped + links.dependencies_dropped + shadow,
        ),
        (
            "sightline_templates",
            "gauge",
            "Learned route templates.",
            templates.templates as u64,
        ),
        (
            "sightline_template_overflow_total",
            "counter",
            "Calls given the overflow template or host bucket (caps reached).",
            templates.overflow_templates + templates.overflow_hosts,
        ),
        (
            "sightline_store_open_failures_total",
            "counter",
            "Times the store could not be opened at start.",
            c.store_open_failures.load(Relaxed),
        ),
        (
            "sightline_config_generation",
            "gauge",
            "Generation of the config in force.",
            active.generation,
        ),
    ]);
    for (name, kind, help, value) in scalars {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    clients::render(
        &mut out,
        &shared.clients,
        c.client_event_evictions.load(Relaxed),
    );
    crate::alerts::metrics::render(&mut out, &shared.alerts);
    crate::fleet::render_metrics(&shared.clients, &mut out);
    process::render(&mut out, shared.started);
    rec.telemetry().render(&mut out);
    c.registry.render(&mut out);
    out
}

/// Writes the HELP and TYPE lines of a metric family.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (backslash, quote, newline).
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
