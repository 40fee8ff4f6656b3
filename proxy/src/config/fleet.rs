//! The `fleet:` section: several instances sharing state through Redis and PostgreSQL.

use super::{secret, Checker, SecretFrom};
use serde::Deserialize;
use std::path::PathBuf;

/// How this instance joins a fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConfig {
    /// This instance's name in the fleet (default: the host name).
    pub instance: String,
    /// The shared Redis (limits, bans, windows), a `redis://` URL.
    pub redis: Option<String>,
    /// The shared store, a `postgres://` URL.
    pub postgres: Option<String>,
}

/// The section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with instance, redis (or redis_file) and postgres (or postgres_file)"
)]
pub(crate) struct FleetFile {
    pub instance: Option<String>,
    pub redis: Option<String>,
    pub redis_file: Option<PathBuf>,
    pub postgres: Option<String>,
    pub postgres_file: Option<PathBuf>,
}

/// Checks the section: URLs have the right scheme, the instance name is printable.
pub(super) fn convert(
    raw: FleetFile,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    check: &mut Checker<'_>,
) -> FleetConfig {
    let instance = raw.instance.unwrap_or_else(host_name);
    if instance.is_empty()
        || instance.len() > 64
        || !instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        check.issue(
            "fleet.instance",
            "an instance name is 1 to 64 letters, digits, '-', '_' or '.'",
        );
    }
    let redis = secret(
        SecretFrom {
            inline: raw.redis,
            file: raw.redis_file,
            env: None,
        },
        "fleet.redis",
        resolve,
        check,
    );
    if let Some(r) = &redis {
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            check.issue(
                "fleet.redis",
                "a Redis URL starts with redis:// or rediss://",
            );
        }
    }
    let postgres = secret(
        SecretFrom {
            inline: raw.postgres,
            file: raw.postgres_file,
            env: None,
        },
        "fleet.postgres",
        resolve,
        check,
    );
    if let Some(p) = &postgres {
        if let Err(e) = crate::fleet::postgres::check_url(p) {
            check.issue("fleet.postgres", e);
        }
    }
    FleetConfig {
        instance,
        redis,
        postgres,
    }
}

/// The host name, or `sightline` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sightline".to_owned())
}
