//! The `admin:` section: the admin listener (health, metrics, API, dashboard).

use super::context::{Convert, SecretFrom};
use super::file::AdminFile;
use super::{defaults, tls, InboundTls};
use std::net::SocketAddr;
use std::time::Duration;

/// The admin listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where to listen; loopback unless a token is set.
    pub listen: SocketAddr,
    /// Bearer token required for everything but health checks.
    pub token: Option<String>,
    /// TLS for the admin listener, when configured (then session cookies are `Secure`).
    pub tls: Option<InboundTls>,
    /// How long a dashboard login lasts; the server forgets the session after it.
    pub session_lifetime: Duration,
    /// Maximum concurrent connections on the admin listener.
    pub max_connections: usize,
    /// Time to receive a request's headers, and then its body.
    pub read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

impl AdminConfig {
    /// Default `admin.max_connections`: dashboards, scrapers and alert streams are few.
    pub const MAX_CONNECTIONS: usize = 256;
    /// Default `admin.read_timeout`.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `admin.idle_timeout`.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

/// Checks the section.
pub(super) fn convert(raw: AdminFile, cx: &mut Convert<'_>) -> AdminConfig {
    let from = SecretFrom {
        inline: raw.token,
        file: raw.token_file,
        env: raw.token_env,
    };
    let token = cx.secret(from, "admin.token");
    let admin = AdminConfig {
        listen: raw.listen.unwrap_or(defaults::ADMIN),
        token: token.filter(|t| !t.is_empty()),
        tls: None,
        session_lifetime: raw
            .session_lifetime
            .map_or(sightline_dashboard::DEFAULT_SESSION_LIFETIME, |d| d.0),
        max_connections: raw.max_connections.unwrap_or(AdminConfig::MAX_CONNECTIONS),
        read_timeout: raw.read_timeout.map_or(AdminConfig::READ_TIMEOUT, |d| d.0),
        idle_timeout: raw.idle_timeout.map_or(AdminConfig::IDLE_TIMEOUT, |d| d.0),
    };
    if admin.session_lifetime < Duration::from_secs(1) {
        cx.issue(
            "admin.session_lifetime",
            "use a session lifetime of at least 1s",
        );
    }
    for (key, zero) in [
        ("admin.max_connections", admin.max_connections == 0),
        ("admin.read_timeout", admin.read_timeout.is_zero()),
        ("admin.idle_timeout", admin.idle_timeout.is_zero()),
    ] {
        if zero {
            cx.issue(key, "must be greater than zero");
        }
    }
    if !admin.listen.ip().is_loopback() && admin.token.is_none() {
        cx.issue(
            "admin.listen",
            "a non-loopback admin listener needs admin.token (the API and dashboard expose every recorded call)",
        );
    }
    if let Some(t) = &admin.token {
        if t.len() < 16 {
            cx.issue("admin.token", "use a token of at least 16 characters");
        }
    }
    AdminConfig {
        tls: raw.tls.map(|t| tls::convert(t, "admin.tls", cx)),
        ..admin
    }
}
