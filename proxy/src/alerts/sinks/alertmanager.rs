//! Alertmanager API v2: `POST /api/v2/alerts` with labels Alertmanager routes and silences on.

use super::http::Poster;
use crate::alerts::model::{Alert, State};
use crate::clock::{from_millis, rfc3339};

/// An Alertmanager.
#[derive(Debug)]
pub struct Alertmanager {
    /// `{base}/api/v2/alerts`.
    pub url: http::Uri,
    /// The client.
    pub poster: Poster,
}

/// How often alerts that are not resolved are sent again. Alertmanager ends an alert that is
/// not re-sent before its `endsAt` (or, without one, its `resolve_timeout`).
pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// The v2 alert list for one alert at `now` (milliseconds since the epoch): `endsAt` is when
/// it resolved, or, while it is not resolved, four refresh periods ahead (so Alertmanager keeps
/// it firing while Sightline keeps sending it, and ends it if Sightline stops).
pub fn payload(a: &Alert, now: u64) -> serde_json::Value {
    let mut alert = serde_json::json!({
        "labels": {
            "alertname": a.kind.as_str(),
            "severity": a.severity.as_str(),
            "subject": a.subject,
            "sightline_alert": a.id.to_string(),
            "source": "sightline",
        },
        "annotations": {
            "summary": a.summary,
            "count": a.count.to_string(),
            "evidence": a.evidence.to_string(),
            "incident": a.incident.map(|i| i.to_string()).unwrap_or_default(),
        },
        "startsAt": rfc3339(from_millis(a.first_seen)),
    });
    let ends = if a.state == State::Resolved {
        a.last_seen.max(a.first_seen)
    } else {
        now.saturating_add(4 * REFRESH.as_millis() as u64)
    };
    alert["endsAt"] = rfc3339(from_millis(ends)).into();
    serde_json::json!([alert])
}

/// `{base}/api/v2/alerts` for a configured base URL.
pub fn alerts_url(base: &http::Uri) -> Result<http::Uri, String> {
    let s = base.to_string();
    format!("{}/api/v2/alerts", s.trim_end_matches('/'))
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())
}

impl Alertmanager {
    /// Posts the alert.
    pub async fn send(&self, a: &Alert) -> Result<(), String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let body = serde_json::to_vec(&payload(a, now)).map_err(|e| e.to_string())?;
        self.poster.post(&self.url, body, &[]).await
    }
}
