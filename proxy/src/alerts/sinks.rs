//! The sinks alerts are delivered to, built from their config. Each delivers one alert per
//! call and says whether the receiver took it.

pub(crate) mod alertmanager;
pub mod cef;
mod http;
mod jsonl;
pub mod syslog;
pub mod webhook;

use super::model::Alert;
use crate::config::alerts::{SinkConfig, SinkTarget};

pub use alertmanager::payload as alertmanager_payload;

/// One destination.
#[derive(Debug)]
pub enum Sink {
    /// Generic webhook or Slack.
    Webhook(webhook::Webhook),
    /// Syslog with CEF.
    Syslog(Box<syslog::Syslog>),
    /// Alertmanager v2.
    Alertmanager(alertmanager::Alertmanager),
    /// JSON lines.
    Jsonl(jsonl::Jsonl),
    /// A sink whose setup failed (a CA that does not load): every delivery fails with why,
    /// so its alerts stay owed and visible.
    Broken(String),
}

impl Sink {
    /// Builds the sink a config names.
    pub fn build(c: &SinkConfig) -> Sink {
        match Sink::try_build(c) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(sink = %c.name, error = %e, "alert sink cannot be set up");
                Sink::Broken(e)
            }
        }
    }

    fn try_build(c: &SinkConfig) -> Result<Sink, String> {
        Ok(match &c.target {
            SinkTarget::Webhook {
                url,
                secret,
                slack,
                ca,
            } => Sink::Webhook(webhook::Webhook {
                url: url.clone(),
                key: secret.as_deref().map(webhook::signing_key),
                slack: *slack,
                poster: http::Poster::new(ca.as_deref(), c.timeout)?,
            }),
            SinkTarget::Alertmanager { url, ca } => {
                Sink::Alertmanager(alertmanager::Alertmanager {
                    url: alertmanager::alerts_url(url)?,
                    poster: http::Poster::new(ca.as_deref(), c.timeout)?,
                })
            }
            SinkTarget::Syslog {
                transport,
                addr,
                cef,
                ca,
            } => Sink::Syslog(Box::new(syslog::Syslog::new(
                *transport,
                addr.clone(),
                *cef,
                ca.as_deref(),
            )?)),
            SinkTarget::Jsonl { path } => Sink::Jsonl(jsonl::Jsonl { path: path.clone() }),
        })
    }

    /// Delivers one alert.
    pub async fn send(&mut self, a: &Alert) -> Result<(), String> {
        match self {
            Sink::Webhook(w) => w.send(a).await,
            Sink::Syslog(s) => s.send(a).await,
            Sink::Alertmanager(m) => m.send(a).await,
            Sink::Jsonl(j) => j.send(a).await,
            Sink::Broken(e) => Err(e.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
