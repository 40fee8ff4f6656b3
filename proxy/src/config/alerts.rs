//! The `alerts:` section: sinks with their filters, severities per kind, the quiet period and
//! the incident window. The alert kinds and severities are defined here (`kind`), since the
//! file names them.

mod kind;

pub use kind::{Kind, Severity};

use super::context::{Convert, SecretFrom};
use super::values::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Alerting, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertsConfig {
    /// An alert without repeats for this long resolves itself (default 15m).
    pub quiet_period: Duration,
    /// Alerts touching the same node within this window form one incident (default 10m).
    pub incident_window: Duration,
    /// Severity per kind where it differs from the kind's default.
    pub severities: BTreeMap<Kind, Severity>,
    /// Where alerts go.
    pub sinks: Vec<SinkConfig>,
    /// Keep alerts in the storage database (default); `false` keeps them in memory only.
    pub persist: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            quiet_period: Duration::from_secs(15 * 60),
            incident_window: Duration::from_secs(10 * 60),
            severities: BTreeMap::new(),
            sinks: Vec::new(),
            persist: true,
        }
    }
}

/// One sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkConfig {
    /// Unique name (delivery status and metrics are per name).
    pub name: String,
    /// Where and how.
    pub target: SinkTarget,
    /// Only these kinds; empty means every kind.
    pub kinds: Vec<Kind>,
    /// Only alerts at least this severe.
    pub min_severity: Severity,
    /// Time allowed for one delivery attempt.
    pub timeout: Duration,
    /// Longest wait between retries (they start at 500ms and double).
    pub max_backoff: Duration,
}

/// Where a sink delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkTarget {
    /// HTTP POST of the alert JSON (or a Slack message), signed when a secret is set.
    Webhook {
        /// `http://` or `https://` URL.
        url: http::Uri,
        /// HMAC-SHA256 key for the `X-Sightline-Signature` header.
        secret: Option<String>,
        /// Slack incoming-webhook message instead of the alert JSON.
        slack: bool,
        /// CA for an `https` URL (default: system roots).
        ca: Option<PathBuf>,
    },
    /// RFC 5424 syslog with a CEF (or JSON) message.
    Syslog {
        /// UDP, TCP or TLS.
        transport: Transport,
        /// `host:port`.
        addr: String,
        /// CEF (default) or the alert JSON.
        cef: bool,
        /// CA for TLS (default: system roots).
        ca: Option<PathBuf>,
    },
    /// Alertmanager API v2: `POST {url}/api/v2/alerts`.
    Alertmanager {
        /// Base URL.
        url: http::Uri,
        /// CA for an `https` URL.
        ca: Option<PathBuf>,
    },
    /// One JSON line per delivery; `None` writes to standard output.
    Jsonl {
        /// The file, appended to.
        path: Option<PathBuf>,
    },
}

/// Syslog transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One datagram per message.
    Udp,
    /// Octet-counted frames (RFC 6587).
    Tcp,
    /// Octet-counted frames over TLS (RFC 5425).
    Tls,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of alert settings")]
pub(crate) struct AlertsFile {
    quiet_period: Option<Dur>,
    incident_window: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    severities: BTreeMap<Kind, Severity>,
    #[serde(default)]
    sinks: Vec<SinkFile>,
    persist: Option<bool>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a sink mapping such as { type: webhook, url: https://hooks.example/x }"
)]
struct SinkFile {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: SinkType,
    url: Option<String>,
    url_file: Option<PathBuf>,
    url_env: Option<String>,
    path: Option<PathBuf>,
    format: Option<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
    ca: Option<PathBuf>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    kinds: Vec<Kind>,
    #[schemars(with = "Option<String>")]
    min_severity: Option<Severity>,
    timeout: Option<Dur>,
    max_backoff: Option<Dur>,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SinkType {
    Webhook,
    Slack,
    Syslog,
    Alertmanager,
    Jsonl,
}

impl SinkType {
    fn as_str(self) -> &'static str {
        match self {
            SinkType::Webhook => "webhook",
            SinkType::Slack => "slack",
            SinkType::Syslog => "syslog",
            SinkType::Alertmanager => "alertmanager",
            SinkType::Jsonl => "jsonl",
        }
    }
}

/// Checks the section.
pub(super) fn convert(raw: AlertsFile, cx: &mut Convert<'_>) -> AlertsConfig {
    let d = AlertsConfig::default();
    let quiet_period = raw.quiet_period.map_or(d.quiet_period, |x| x.0);
    let incident_window = raw.incident_window.map_or(d.incident_window, |x| x.0);
    if quiet_period < Duration::from_secs(1) {
        cx.issue("alerts.quiet_period", "at least 1s");
    }
    let mut sinks: Vec<SinkConfig> = Vec::new();
    for (i, s) in raw.sinks.into_iter().enumerate() {
        if let Some(sink) = sink(s, &format!("alerts.sinks[{i}]"), &sinks, cx) {
            sinks.push(sink);
        }
    }
    AlertsConfig {
        quiet_period,
        incident_window,
        severities: raw.severities,
        sinks,
        persist: raw.persist.unwrap_or(true),
    }
}

/// Checks the sink at `key`; `before` are the sinks already checked (names are unique).
fn sink(
    mut s: SinkFile,
    key: &str,
    before: &[SinkConfig],
    cx: &mut Convert<'_>,
) -> Option<SinkConfig> {
    // A webhook's URL often embeds its credential (Slack's does): both may come from files.
    let url = SecretFrom {
        inline: s.url.take(),
        file: s.url_file.take(),
        env: s.url_env.take(),
    };
    s.url = cx.secret(url, &format!("{key}.url"));
    let secret = SecretFrom {
        inline: s.secret.take(),
        file: s.secret_file.take(),
        env: s.secret_env.take(),
    };
    s.secret = cx.secret(secret, &format!("{key}.secret"));
    let name = s.name.clone().unwrap_or_else(|| s.kind.as_str().to_owned());
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        cx.issue(
            &format!("{key}.name"),
            "use letters, digits, '-', '_' and '.' only (at most 64)",
        );
    }
    if before.iter().any(|x| x.name == name) {
        cx.issue(
            &format!("{key}.name"),
            format!("another sink is named {name:?}; give each sink a distinct name"),
        );
    }
    let target = target(&s, key, cx)?;
    Some(SinkConfig {
        name,
        target,
        kinds: s.kinds,
        min_severity: s.min_severity.unwrap_or(Severity::Info),
        timeout: s.timeout.map_or(Duration::from_secs(5), |x| x.0),
        max_backoff: s.max_backoff.map_or(Duration::from_secs(60), |x| x.0),
    })
}

/// The format, secret and signing checks every sink type shares.
fn check_options(s: &SinkFile, key: &str, cx: &mut Convert<'_>) {
    let allowed: &[&str] = match s.kind {
        SinkType::Webhook => &["json", "slack"],
        SinkType::Syslog => &["cef", "json"],
        _ => &[],
    };
    if let Some(f) = s.format.as_deref() {
        if !allowed.contains(&f) {
            let msg = if allowed.is_empty() {
                format!("a {} sink has no format choice", s.kind.as_str())
            } else {
                format!("unknown format {f:?}; use {}", allowed.join(" or "))
            };
            cx.issue(&format!("{key}.format"), msg);
        }
    }
    if s.secret.is_some() && s.kind != SinkType::Webhook {
        cx.issue(
            &format!("{key}.secret"),
            "only webhook sinks sign their deliveries",
        );
    }
    if let Some(secret) = &s.secret {
        if secret.len() < 16 {
            cx.issue(
                &format!("{key}.secret"),
                "use a secret of at least 16 characters",
            );
        }
    }
}

/// Where the sink at `key` delivers.
fn target(s: &SinkFile, key: &str, cx: &mut Convert<'_>) -> Option<SinkTarget> {
    check_options(s, key, cx);
    let ca = s.ca.clone().map(|p| cx.resolve(p));
    let format = s.format.as_deref();
    let need_url = |cx: &mut Convert<'_>| {
        let url = s.url.as_deref();
        if url.is_none() {
            cx.issue(
                &format!("{key}.url"),
                format!("a {} sink needs url", s.kind.as_str()),
            );
        }
        url
    };
    match s.kind {
        SinkType::Webhook | SinkType::Slack | SinkType::Alertmanager => {
            let url = http_url(need_url(cx)?, &format!("{key}.url"), cx)?;
            Some(match s.kind {
                SinkType::Alertmanager => SinkTarget::Alertmanager { url, ca },
                kind => SinkTarget::Webhook {
                    url,
                    secret: s.secret.clone(),
                    slack: kind == SinkType::Slack || format == Some("slack"),
                    ca,
                },
            })
        }
        SinkType::Syslog => syslog(need_url(cx)?, key, format, ca, cx),
        SinkType::Jsonl => {
            let path = match s.path.as_deref() {
                None => {
                    cx.issue(
                        &format!("{key}.path"),
                        "a jsonl sink needs path (a file, or - for standard output)",
                    );
                    return None;
                }
                Some(p) if p == Path::new("-") => None,
                Some(p) => Some(cx.resolve(p.to_owned())),
            };
            Some(SinkTarget::Jsonl { path })
        }
    }
}

/// A syslog sink at `url` (`udp://`, `tcp://` or `tls://` and `host:port`).
fn syslog(
    url: &str,
    key: &str,
    format: Option<&str>,
    ca: Option<PathBuf>,
    cx: &mut Convert<'_>,
) -> Option<SinkTarget> {
    let (scheme, addr) = url.split_once("://").unwrap_or(("", url));
    let transport = match scheme {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => {
            cx.issue(
                &format!("{key}.url"),
                format!("{url:?}: write udp://host:port, tcp://host:port or tls://host:port"),
            );
            return None;
        }
    };
    let port_ok = addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok {
        cx.issue(&format!("{key}.url"), format!("{url:?}: needs host:port"));
        return None;
    }
    Some(SinkTarget::Syslog {
        transport,
        addr: addr.to_owned(),
        cef: format != Some("json"),
        ca,
    })
}

fn http_url(url: &str, key: &str, cx: &mut Convert<'_>) -> Option<http::Uri> {
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some() => {
            Some(u)
        }
        _ => {
            cx.issue(key, format!("{url:?}: write an http:// or https:// URL"));
            None
        }
    }
}

#[cfg(test)]
mod tests;
