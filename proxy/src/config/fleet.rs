//! The `fleet:` section: several instances sharing state through Redis and PostgreSQL.

use super::context::{Convert, SecretFrom};
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
pub(super) fn convert(raw: FleetFile, cx: &mut Convert<'_>) -> FleetConfig {
    let instance = raw.instance.unwrap_or_else(host_name);
    if instance.is_empty()
        || instance.len() > 64
        || !instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        cx.issue(
            "fleet.instance",
            "an instance name is 1 to 64 letters, digits, '-', '_' or '.'",
        );
    }
    let redis = cx.secret(
        SecretFrom {
            inline: raw.redis,
            file: raw.redis_file,
            env: None,
        },
        "fleet.redis",
    );
    if let Some(r) = &redis {
        if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
            cx.issue(
                "fleet.redis",
                "a Redis URL starts with redis:// or rediss://",
            );
        }
    }
    let postgres = cx.secret(
        SecretFrom {
            inline: raw.postgres,
            file: raw.postgres_file,
            env: None,
        },
        "fleet.postgres",
    );
    if let Some(p) = &postgres {
        if let Err(e) = check_postgres_url(p) {
            cx.issue("fleet.postgres", e);
        }
    }
    FleetConfig {
        instance,
        redis,
        postgres,
    }
}

/// Whether `url` is a PostgreSQL connection URL the client can use.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err("a PostgreSQL URL starts with postgres:// or postgresql://".into());
    }
    url.parse::<tokio_postgres::Config>()
        .map(|_| ())
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))
}

/// The host name, or `sightline` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "sightline".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::Config;
    use std::path::Path;

    #[test]
    fn the_fleet_section_names_the_instance_and_the_shared_store() {
        let text = "version: 1\nfleet:\n  instance: gw-1\n  postgres: postgres://sightline@127.0.0.1:5432/sightline\n";
        let f = Config::parse(text, "t.yaml", Path::new("/"))
            .unwrap()
            .fleet
            .unwrap();
        assert_eq!(f.instance, "gw-1");
        assert_eq!(
            f.postgres.as_deref(),
            Some("postgres://sightline@127.0.0.1:5432/sightline")
        );
        assert_eq!(f.redis, None);
        let c = Config::parse("version: 1\n", "t.yaml", Path::new("/")).unwrap();
        assert_eq!(c.fleet, None, "standalone by default");
    }

    #[test]
    fn the_postgres_url_is_read_from_a_file_and_checked() {
        let dir = std::env::temp_dir().join(format!("sightline-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pg"), "postgresql://u:p@db.internal/sightline\n").unwrap();
        let text = "version: 1\nfleet: { instance: a, postgres_file: pg }\n";
        let f = Config::parse(text, "t.yaml", &dir).unwrap().fleet.unwrap();
        assert_eq!(
            f.postgres.as_deref(),
            Some("postgresql://u:p@db.internal/sightline")
        );
        let text = "version: 1\nfleet: { instance: a, postgres: \"mysql://x/y\" }\n";
        let e = Config::parse(text, "t.yaml", &dir).unwrap_err().to_string();
        assert!(
            e.contains("fleet.postgres") && e.contains("postgres://"),
            "{e}"
        );
        let text = "version: 1\nfleet: { instance: a, postgres: p, postgres_file: pg }\n";
        let e = Config::parse(text, "t.yaml", &dir).unwrap_err().to_string();
        assert!(e.contains("fleet.postgres_file"), "{e}");
        let text = "version: 1\nfleet: { instance: \"a b\" }\n";
        let e = Config::parse(text, "t.yaml", &dir).unwrap_err().to_string();
        assert!(e.contains("fleet.instance"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
