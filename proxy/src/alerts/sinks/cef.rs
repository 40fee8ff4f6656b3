//! ArcSight Common Event Format: the header and extension escaping rules, and one alert as a
//! CEF record. Paths, hosts and subjects are attacker-controlled, so every field is escaped.

use crate::alerts::model::{Alert, Severity};
use std::fmt::Write;

/// Longest extension value kept (characters); longer ones are cut.
const MAX_VALUE: usize = 1024;

/// A header field: backslash and pipe escaped; line breaks, which the header cannot carry,
/// become spaces.
pub fn header(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An extension value: backslash and equals escaped, line breaks as `\n` and `\r`.
pub fn value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars().take(MAX_VALUE) {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// CEF severity, 0 to 10.
pub fn severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

/// The alert as one CEF record (no line breaks).
pub fn record(a: &Alert) -> String {
    let mut out = format!(
        "CEF:0|Sightline|Sightline|{}|{}|{}|{}|",
        header(env!("CARGO_PKG_VERSION")),
        header(a.kind.as_str()),
        header(&a.summary),
        severity(a.severity)
    );
    let mut ext: Vec<(&str, String)> = vec![
        ("rt", a.last_seen.to_string()),
        ("start", a.first_seen.to_string()),
        ("end", a.last_seen.to_string()),
        ("cnt", a.count.to_string()),
        ("externalId", a.id.to_string()),
        ("act", a.state.as_str().to_owned()),
        ("cat", "sightline/alert".to_owned()),
        ("msg", a.summary.clone()),
        ("cs1Label", "subject".to_owned()),
        ("cs1", a.subject.clone()),
    ];
    if let Some(i) = a.incident {
        ext.push(("cs2Label", "incident".to_owned()));
        ext.push(("cs2", i.to_string()));
    }
    let e = &a.evidence;
    let text = |k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    for (cef_key, field) in [
        ("suser", "source"),
        ("dhost", "host"),
        ("requestMethod", "method"),
        ("request", "path"),
        ("reason", "reason"),
    ] {
        if let Some(v) = text(field) {
            ext.push((cef_key, v));
        }
    }
    if let Some(addr) = text("source_addr") {
        let ip = addr
            .parse::<std::net::SocketAddr>()
            .map(|s| s.ip().to_string())
            .unwrap_or(addr);
        ext.push(("src", ip));
    }
    for (i, (k, v)) in ext.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{k}={}", value(v));
    }
    out
}
