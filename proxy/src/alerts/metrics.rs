//! The alert pipeline's part of `/metrics`.

use super::Alerts;
use crate::metrics::{Kind, Writer};
use std::sync::atomic::Ordering::Relaxed;

/// Writes the alert families.
pub fn render(w: &mut Writer, alerts: &Alerts) {
    let s = alerts.stats();
    let (live, owed) = alerts.gauges();
    for (name, kind, help, value) in [
        (
            "sightline_alerts_live",
            Kind::Gauge,
            "Alerts open or acknowledged.",
            live as u64,
        ),
        (
            "sightline_alert_signals_total",
            Kind::Counter,
            "Events, findings and faults counted into alerts.",
            s.raised.load(Relaxed),
        ),
        (
            "sightline_alert_signals_dropped_total",
            Kind::Counter,
            "Signals dropped because the alert queue was full.",
            s.dropped.load(Relaxed),
        ),
        (
            "sightline_alert_signals_unmapped_total",
            Kind::Counter,
            "Events and findings of a kind no alert maps.",
            s.unmapped.load(Relaxed),
        ),
        (
            "sightline_alert_overflow_total",
            Kind::Counter,
            "Signals without an alert of their own: counted into a per-source or per-kind aggregate alert, or dropped.",
            s.overflow.load(Relaxed),
        ),
        (
            "sightline_alert_store_errors_total",
            Kind::Counter,
            "Failed writes of the alert tables (retried).",
            s.store_errors.load(Relaxed),
        ),
        (
            "sightline_alert_stream_lagged_total",
            Kind::Counter,
            "Alert changes skipped by SSE subscribers too slow to keep up.",
            s.stream_lagged.load(Relaxed),
        ),
    ] {
        w.single(name, kind, help, value);
    }
    let name = "sightline_alert_deliveries_total";
    w.family(
        name,
        Kind::Counter,
        "Delivery attempts per sink and result.",
    );
    for (sink, st) in &s.sinks {
        for (result, n) in [
            ("delivered", st.delivered.load(Relaxed)),
            ("failed", st.failed.load(Relaxed)),
        ] {
            w.sample(name, &[("sink", sink.as_str()), ("result", result)], n);
        }
    }
    let name = "sightline_alert_deliveries_owed";
    w.family(
        name,
        Kind::Gauge,
        "Alerts a sink has not taken yet (pending or failing).",
    );
    for (sink, n) in &owed {
        w.sample(name, &[("sink", sink.as_str())], n);
    }
}
