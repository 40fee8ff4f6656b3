//! The generic webhook: the alert JSON, signed as Standard Webhooks specifies when a secret is
//! set: the signature covers the delivery id and the time of sending with the body, so a
//! receiver that checks the time and remembers ids it took cannot be replayed an old delivery.
//! The Slack flavour posts an incoming-webhook message instead.

use super::http::Poster;
use crate::alerts::model::{Alert, State};
use base64::Engine as _;

/// Header naming the delivery (`<alert id>.<version>`, the same when a delivery is repeated);
/// receivers drop repeats with it.
pub const ID: &str = "webhook-id";
/// Header with the time of sending, unix seconds.
pub const TIMESTAMP: &str = "webhook-timestamp";
/// Header with `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
pub const SIGNATURE: &str = "webhook-signature";
/// The delivery id again, under the name earlier releases used.
pub const DELIVERY: &str = "x-sightline-delivery";
/// The prefix of a secret in the Standard Webhooks format (`whsec_<base64 key>`).
const WHSEC: &str = "whsec_";

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

/// The signing key of a configured secret: a `whsec_` secret is the base64 of the key (as
/// Standard Webhooks libraries take it); any other secret is the key as its bytes.
pub fn signing_key(secret: &str) -> ring::hmac::Key {
    let bytes = secret
        .strip_prefix(WHSEC)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
}

/// `v1,<base64>`: the HMAC-SHA256 under `key` of `<id>.<timestamp>.<body>`.
pub fn signature(key: &ring::hmac::Key, id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
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
    // No previews: Slack would fetch and show a page an attacker-chosen address names.
    serde_json::json!({ "text": text, "unfurl_links": false, "unfurl_media": false })
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
        let id = format!("{}.{}", a.id, a.version);
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut headers = vec![
            (ID, id.clone()),
            (TIMESTAMP, timestamp.to_string()),
            (DELIVERY, id.clone()),
        ];
        if let Some(key) = &self.key {
            headers.push((SIGNATURE, signature(key, &id, timestamp, &body)));
        }
        self.poster.post(&self.url, body, &headers).await
    }
}
