//! The generic webhook: the alert JSON, signed with HMAC-SHA256 when a secret is set. The
//! Slack flavour posts an incoming-webhook message instead.

use super::http::Poster;
use crate::alerts::model::{Alert, State};
use crate::trace::hex;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE: &str = "x-sightline-signature";
/// Header naming the delivery (`<alert id>.<version>`); receivers drop repeats with it.
pub const DELIVERY: &str = "x-sightline-delivery";

/// A webhook destination.
#[derive(Debug)]
pub struct Webhook {
    /// Where to post.
    pub url: http::Uri,
    /// The signing key.
    pub key: Option<ring::hmac::Key>,
    /// Post a Slack message instead of the alert JSON.
    pub slack: bool,
    /// The client.
    pub poster: Poster,
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(key: &ring::hmac::Key, body: &[u8]) -> String {
    format!("sha256={}", hex(ring::hmac::sign(key, body).as_ref()))
}

/// Slack mrkdwn: `&`, `<` and `>` escaped so attacker-controlled text cannot form links or
/// mentions.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack incoming-webhook message for an alert.
pub fn slack_message(a: &Alert) -> serde_json::Value {
    let state = match a.state {
        State::Resolved => " (resolved)",
        State::Acknowledged => " (acknowledged)",
        State::Open => "",
    };
    let text = format!(
        "[{}] {}{state}: {} ({}x, alert {})",
        a.severity.as_str().to_uppercase(),
        a.kind.as_str(),
        slack_escape(&a.summary),
        a.count,
        a.id
    );
    serde_json::json!({ "text": text })
}

impl Webhook {
    /// Posts the alert.
    pub async fn send(&self, a: &Alert) -> Result<(), String> {
        let body = if self.slack {
            slack_message(a)
        } else {
            a.to_json()
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut headers = vec![(DELIVERY, format!("{}.{}", a.id, a.version))];
        if let Some(key) = &self.key {
            headers.push((SIGNATURE, signature(key, &body)));
        }
        self.poster.post(&self.url, body, &headers).await
    }
}
