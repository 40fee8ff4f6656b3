//! `/metrics`: the whole page in the Prometheus text format, assembled from the parts that own
//! the figures, in this order: the recorder's exact call counters (calls, durations, body
//! bytes), the upstream pools, the record pipeline, listeners, reloads, store and analysis,
//! then the client guard, the alerts, the build and process, the telemetry series and the
//! registered counters. Every part writes through [`crate::metrics::Writer`].

use crate::alerts::Alerts;
use crate::clients::ClientGuard;
use crate::metrics::{Kind, Writer};
use crate::record::counters::DURATION_BUCKETS;
use crate::record::{Direction, ServiceCounters, StatusClass};
use crate::recorder::Recorder;
use crate::upstream::ServicePool;
use sightline_policy::Decision;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

/// What `/metrics` shows, borrowed from the running proxy.
#[derive(Clone, Copy, Debug)]
pub struct Exposition<'a> {
    /// The recorder: the exact call counters, its queue, the store, the analysis and the
    /// telemetry series.
    pub recorder: &'a Recorder,
    /// Each service's pool, by name.
    pub pools: &'a BTreeMap<String, Arc<ServicePool>>,
    /// The generation of the config in force.
    pub generation: u64,
    /// Inbound client connections open now.
    pub inbound_connections: usize,
    /// Egress connections open now.
    pub egress_connections: usize,
    /// The client guard.
    pub clients: &'a ClientGuard,
    /// The alert pipeline.
    pub alerts: &'a Alerts,
    /// The fleet's shared store, when there is one.
    pub postgres: Option<&'a crate::fleet::postgres::Postgres>,
    /// When the process started.
    pub started: SystemTime,
}

/// The page.
pub fn render(e: &Exposition<'_>) -> String {
    let mut w = Writer::with_capacity(4096);
    let counters = e.recorder.counters();
    calls(&mut w, &counters.all_services());
    let name = "sightline_upstreams_healthy";
    w.family(name, Kind::Gauge, "Upstreams in rotation per service.");
    for (service, pool) in e.pools {
        w.sample(name, &[("service", service)], pool.healthy());
    }
    pipeline(&mut w, e);
    store_and_analysis(&mut w, e);
    crate::clients::metrics::render(
        &mut w,
        e.clients,
        counters.client_event_evictions.load(Relaxed),
    );
    crate::alerts::metrics::render(&mut w, e.alerts);
    crate::fleet::render_metrics(e.clients, &mut w);
    if let Some(pg) = e.postgres {
        pg.render_metrics(&mut w);
    }
    crate::metrics::process::render(&mut w, e.started);
    e.recorder.telemetry().render(&mut w);
    counters.registry.render(&mut w);
    w.finish()
}

/// Finished calls, their durations and body bytes per (direction, service).
fn calls(w: &mut Writer, services: &[((Direction, String), Arc<ServiceCounters>)]) {
    let name = "sightline_requests_total";
    w.family(
        name,
        Kind::Counter,
        "Finished calls by direction, service, status class and decision.",
    );
    for ((dir, service), sc) in services {
        for d in Decision::ALL {
            for class in StatusClass::ALL {
                let n = sc.requests(d, class);
                if n > 0 {
                    let labels = [
                        ("direction", dir.as_str()),
                        ("service", service),
                        ("status_class", class.as_str()),
                        ("decision", d.as_str()),
                    ];
                    w.sample(name, &labels, n);
                }
            }
        }
    }
    // Only services that saw a call.
    let seen: Vec<_> = services
        .iter()
        .filter(|(_, sc)| sc.total() > 0)
        .map(|((dir, service), sc)| ([("direction", dir.as_str()), ("service", service)], sc))
        .collect();
    let name = "sightline_request_duration_seconds";
    w.family(
        name,
        Kind::Histogram,
        "Call duration until the end of the response.",
    );
    for (labels, sc) in &seen {
        let (buckets, sum) = sc.durations();
        w.histogram(name, labels, &DURATION_BUCKETS, &buckets, sum);
    }
    for (name, help, inbound) in [
        (
            "sightline_request_bytes_total",
            "Request body bytes received from callers.",
            true,
        ),
        (
            "sightline_response_bytes_total",
            "Response body bytes sent to callers.",
            false,
        ),
    ] {
        w.family(name, Kind::Counter, help);
        for (labels, sc) in &seen {
            let (received, sent) = sc.bytes();
            w.sample(name, labels, if inbound { received } else { sent });
        }
    }
}

/// The record pipeline, the listeners' connections and TLS, upstream ejections and reloads.
fn pipeline(w: &mut Writer, e: &Exposition<'_>) {
    let rec = e.recorder;
    let c = rec.counters();
    #[rustfmt::skip]
    let scalars = [
        ("sightline_record_queue_depth", Kind::Gauge, "Records waiting for the recorder.", rec.queue_depth() as u64),
        ("sightline_record_queue_capacity", Kind::Gauge, "Capacity of the record queue.", rec.queue_capacity() as u64),
        ("sightline_records_queued_total", Kind::Counter, "Records handed to the recorder.", c.records_queued.load(Relaxed)),
        ("sightline_records_dropped_total", Kind::Counter, "Records dropped because the queue was full (the counters above still count those calls).", c.records_dropped.load(Relaxed)),
        ("sightline_records_processed_total", Kind::Counter, "Records the recorder has processed.", c.records_processed.load(Relaxed)),
        ("sightline_connections_accepted_total", Kind::Counter, "Inbound client connections accepted.", c.connections_accepted.load(Relaxed)),
        ("sightline_connections_rejected_total", Kind::Counter, "Inbound connections refused at limits.max_connections.", c.connections_rejected.load(Relaxed)),
        ("sightline_egress_connections_rejected_total", Kind::Counter, "Egress connections refused at egress.max_connections.", c.egress_connections_rejected.load(Relaxed)),
        ("sightline_admin_connections_rejected_total", Kind::Counter, "Admin connections refused at admin.max_connections.", c.admin_connections_rejected.load(Relaxed)),
        ("sightline_connections_active", Kind::Gauge, "Inbound client connections open now (upgraded tunnels included).", e.inbound_connections as u64),
        ("sightline_egress_connections_active", Kind::Gauge, "Egress connections open now (CONNECT tunnels included).", e.egress_connections as u64),
        ("sightline_tls_handshake_failures_total", Kind::Counter, "TLS handshakes (inbound and egress listeners) that failed or timed out.", c.tls_handshake_failures.load(Relaxed)),
        ("sightline_upstream_ejections_total", Kind::Counter, "Upstreams taken out of rotation after consecutive failures.", c.upstream_ejections.load(Relaxed)),
        ("sightline_config_reloads_total", Kind::Counter, "Config reloads applied.", c.reloads_ok.load(Relaxed)),
        ("sightline_config_reload_failures_total", Kind::Counter, "Config reloads rejected (the running config kept serving).", c.reloads_failed.load(Relaxed)),
    ];
    for (name, kind, help, value) in scalars {
        w.single(name, kind, help, value);
    }
}

/// The store's writes (when there is a store), the analysis caps, and the config generation.
fn store_and_analysis(w: &mut Writer, e: &Exposition<'_>) {
    let rec = e.recorder;
    if let Some(store) = rec.store() {
        let s = &store.stats;
        #[rustfmt::skip]
        let store = [
            ("sightline_store_written_total", Kind::Counter, "Operations written to the embedded store.", s.written.load(Relaxed)),
            ("sightline_store_dropped_total", Kind::Counter, "Store writes dropped (queue or retry buffer full).", s.dropped.load(Relaxed)),
            ("sightline_store_errors_total", Kind::Counter, "Failed store batch writes (retried).", s.errors.load(Relaxed)),
            ("sightline_store_pending", Kind::Gauge, "Store writes waiting.", s.pending.load(Relaxed)),
        ];
        for (name, kind, help, value) in store {
            w.single(name, kind, help, value);
        }
    }
    let (baseline_overflow, templates, links, shadow) = {
        let a = rec.analysis();
        (
            a.watch_overflow(),
            a.template_stats(),
            a.link_overflow(),
            a.shadow_counts().0,
        )
    };
    #[rustfmt::skip]
    let analysis = [
        ("sightline_analysis_baseline_overflow_total", Kind::Counter, "Endpoints left without a baseline (cap reached).", baseline_overflow),
        ("sightline_analysis_traces_evicted_total", Kind::Counter, "Traces with egress calls forgotten before their inbound call came (cap reached).", links.traces_evicted),
        ("sightline_analysis_link_overflow_total", Kind::Counter, "Destinations and dependencies not kept by trace linking (caps reached).", links.destinations_dropped + links.dependencies_dropped + shadow),
        ("sightline_templates", Kind::Gauge, "Learned route templates.", templates.templates as u64),
        ("sightline_template_overflow_total", Kind::Counter, "Calls given the overflow template or host bucket (caps reached).", templates.overflow_templates + templates.overflow_hosts),
        ("sightline_store_open_failures_total", Kind::Counter, "Times the store could not be opened at start.", rec.counters().store_open_failures.load(Relaxed)),
        ("sightline_config_generation", Kind::Gauge, "Generation of the config in force.", e.generation),
    ];
    for (name, kind, help, value) in analysis {
        w.single(name, kind, help, value);
    }
}
