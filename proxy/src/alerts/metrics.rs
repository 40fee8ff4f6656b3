//! The alert pipeline's part of `/metrics`.

use super::Alerts;
use crate::metrics::{escape, family};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Appends the alert families.
pub fn render(out: &mut String, alerts: &Alerts) {
    let s = alerts.stats();
    let (live, owed) = alerts.gauges();
    for (name, kind, help, value) in [
        (
            "sightline_alerts_live",
            "gauge",
            "Alerts open or acknowledged.",
            live as u64,
        ),
        (
            "sightline_alert_signals_total",
            "counter",
            "Events, findings and faults counted into alerts.",
            s.raised.load(Relaxed),
        ),
        (
            "sightline_alert_signals_dropped_total",
            "counter",
            "Signals dropped because the alert queue was full.",
            s.dropped.load(Relaxed),
        ),
        (
            "sightline_alert_signals_unmapped_total",
            "counter",
            "Events and findings of a kind no alert maps.",
            s.unmapped.load(Relaxed),
        ),
        (
            "sightline_alert_overflow_total",
            "counter",
            "Signals without an alert of their own: counted into a per-source or per-kind aggregate alert, or dropped.",
            s.overflow.load(Relaxed),
        ),
        (
            "sightline_alert_store_errors_total",
            "counter",
            "Failed writes of the alert tables (retried).",
            s.store_errors.load(Relaxed),
        ),
        (
            "sightline_alert_stream_lagged_total",
            "counter",
            "Alert changes skipped by SSE subscribers too slow to keep up.",
            s.stream_lagged.load(Relaxed),
        ),
    ] {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    family(
        out,
        "sightline_alert_deliveries_total",
        "counter",
        "Delivery attempts per sink and result.",
    );
    for (name, st) in &s.sinks {
        for (result, n) in [
            ("delivered", st.delivered.load(Relaxed)),
            ("failed", st.failed.load(Relaxed)),
        ] {
            let _ = writeln!(
                out,
                "sightline_alert_deliveries_total{{sink=\"{}\",result=\"{result}\"}} {n}",
                escape(name)
            );
        }
    }
    family(
        out,
        "sightline_alert_deliveries_owed",
        "gauge",
        "Alerts a sink has not taken yet (pending or failing).",
    );
    for (name, n) in &owed {
        let _ = writeln!(
            out,
            "sightline_alert_deliveries_owed{{sink=\"{}\"}} {n}",
            escape(name)
        );
    }
}
