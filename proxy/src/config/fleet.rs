//! The `fleet:` section: the instance's name and the shared back-ends several instances use
//! together — Redis for client protections (limits, bans), PostgreSQL for the store. Either may
//! be set alone; without the section an instance keeps everything to itself.

use super::context::{valid_name, Convert, SecretFrom};
use serde::Deserialize;
use std::path::PathBuf;

/// The `fleet:` section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with instance, redis (or redis_file, redis_env), postgres (or postgres_file, postgres_env) and fail"
)]
pub(crate) struct FleetFile {
    pub instance: Option<String>,
    pub redis: Option<String>,
    pub redis_file: Option<PathBuf>,
    pub redis_env: Option<String>,
    pub postgres: Option<String>,
    pub postgres_file: Option<PathBuf>,
    pub postgres_env: Option<String>,
    pub fail: Option<FailMode>,
}

/// What the client protections do while Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Each instance applies the limits alone (a fleet of N then lets through up to N times a
    /// limit); bans already known stay in force. Counted, and alerted as
    /// `fleet_backend_failing`.
    #[default]
    Open,
    /// Calls a shared limit would judge are refused with 503 until Redis answers again.
    Closed,
}

impl FailMode {
    /// `open` or `closed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailMode::Open => "open",
            FailMode::Closed => "closed",
        }
    }
}

/// A checked `fleet:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetConfig {
    /// This instance's name in the fleet (default: the host name).
    pub instance: String,
    /// The Redis URL (`redis://`) for shared limits and bans.
    pub redis: Option<String>,
    /// The PostgreSQL URL for the shared store.
    pub postgres: Option<String>,
    /// What the client protections do while Redis is down.
    pub on_redis_failure: FailMode,
}

/// The host name, or `sightline` when it cannot be read.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "sightline".to_owned())
}

/// A URL written inline, in a file or in an environment variable (the last two keep a
/// password out of the config), read like every other secret of the config.
fn url(
    inline: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
    key: &str,
    cx: &mut Convert<'_>,
) -> Option<String> {
    let from = SecretFrom { inline, file, env };
    cx.secret(from, &format!("fleet.{key}"))
        .map(|u| u.trim().to_owned())
}

/// Why a Redis URL is not one, or `None` when it is.
pub fn redis_url_problem(url: &str) -> Option<String> {
    if url.starts_with("rediss://") {
        return Some("TLS to Redis (rediss://) is not supported by this build: use redis:// on a private network or a TLS tunnel".into());
    }
    if !(url.starts_with("redis://") || url.starts_with("unix://")) {
        return Some("write a redis:// URL, e.g. redis://127.0.0.1:6379/0".into());
    }
    if let Some(rest) = url.strip_prefix("redis://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
            _ => (host_port, None),
        };
        if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Some("not a Redis URL: write redis://host:port/db".into());
        }
    }
    redis::Client::open(url)
        .err()
        .map(|e| format!("not a Redis URL: {}", e.detail().unwrap_or("malformed")))
}

/// Why a PostgreSQL URL is not one, or `None` when it is (the syntax only; the server is asked
/// at start).
pub fn postgres_url_problem(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"));
    let Some(rest) = rest else {
        return Some(
            "write a postgres:// URL, e.g. postgres://sightline@127.0.0.1:5432/sightline".into(),
        );
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let ok =
        rest.chars().all(|c| c.is_ascii_graphic()) && (!host.is_empty() || rest.contains("host="));
    if !ok {
        return Some("not a PostgreSQL URL: name a host, e.g. postgres://user@host:5432/db".into());
    }
    url.parse::<tokio_postgres::Config>()
        .err()
        .map(|e| format!("not a PostgreSQL URL: {e}"))
}

/// Whether `url` is a PostgreSQL connection URL the client can use.
pub fn check_postgres_url(url: &str) -> Result<(), String> {
    postgres_url_problem(url).map_or(Ok(()), Err)
}

pub(super) fn convert(raw: Option<FleetFile>, cx: &mut Convert<'_>) -> Option<FleetConfig> {
    let raw = raw?;
    let instance = match raw.instance {
        Some(name) => {
            if !valid_name(&name) {
                cx.issue(
                    "fleet.instance",
                    "instance names start with a letter or digit and use letters, digits, '-', '_' and '.' only (at most 64)",
                );
            }
            name
        }
        None => host_name(),
    };
    let redis = url(raw.redis, raw.redis_file, raw.redis_env, "redis", cx);
    if let Some(problem) = redis.as_deref().and_then(redis_url_problem) {
        cx.issue("fleet.redis", problem);
    }
    let postgres = url(
        raw.postgres,
        raw.postgres_file,
        raw.postgres_env,
        "postgres",
        cx,
    );
    if let Some(problem) = postgres.as_deref().and_then(postgres_url_problem) {
        cx.issue("fleet.postgres", problem);
    }
    if raw.fail.is_some() && redis.is_none() {
        cx.issue("fleet.fail", "fail applies to redis: set fleet.redis too");
    }
    Some(FleetConfig {
        instance,
        redis,
        postgres,
        on_redis_failure: raw.fail.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_checked() {
        assert_eq!(redis_url_problem("redis://127.0.0.1:6379/0"), None);
        assert_eq!(
            redis_url_problem("redis://user:pw@cache.example:6380"),
            None
        );
        assert!(redis_url_problem("rediss://cache.example:6380").is_some());
        assert!(redis_url_problem("127.0.0.1:6379").is_some());
        assert!(redis_url_problem("http://127.0.0.1:6379").is_some());
        assert!(redis_url_problem("redis://127.0.0.1:notaport").is_some());
        assert!(redis_url_problem("redis:///0").is_some());
        assert_eq!(redis_url_problem("redis://[::1]:6379"), None);
    }

    fn parse(fleet: &str) -> Result<crate::config::Config, String> {
        let text = format!("version: 1\n{fleet}");
        crate::config::Config::parse(&text, "t.yaml", std::path::Path::new("/"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_section_is_read_and_its_urls_checked_by_check() {
        let c = parse("fleet: { instance: gw-1, redis: redis://127.0.0.1:6379/0, fail: closed }")
            .unwrap_or_else(|e| panic!("{e}"));
        let f = c.fleet.unwrap_or_else(|| panic!("no fleet"));
        assert_eq!(f.instance, "gw-1");
        assert_eq!(f.redis.as_deref(), Some("redis://127.0.0.1:6379/0"));
        assert_eq!(f.postgres, None);
        assert_eq!(f.on_redis_failure, FailMode::Closed);
        assert_eq!(parse("version: 1").ok().and_then(|c| c.fleet), None);
        let e = parse("fleet: { redis: \"localhost:6379\" }")
            .err()
            .unwrap_or_default();
        assert!(e.contains("fleet.redis") && e.contains("redis://"), "{e}");
        let e = parse("fleet: { postgres: \"mysql://db\" }")
            .err()
            .unwrap_or_default();
        assert!(e.contains("fleet.postgres"), "{e}");
        let e = parse("fleet: { instance: \"gw 1\" }")
            .err()
            .unwrap_or_default();
        assert!(e.contains("fleet.instance"), "{e}");
        let e = parse("fleet: { redis: redis://a, redis_file: x }")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("fleet.redis_file")
                && e.contains("set one of fleet.redis, fleet.redis_file and fleet.redis_env"),
            "{e}"
        );
        let e = parse("fleet: { postgres_env: SIGHTLINE_TEST_UNSET_PG_URL }")
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("fleet.postgres_env")
                && e.contains("SIGHTLINE_TEST_UNSET_PG_URL is not set"),
            "{e}"
        );
        let e = parse("fleet: { fail: open }").err().unwrap_or_default();
        assert!(e.contains("fleet.fail"), "{e}");
        // Without an instance name, the host's.
        let c = parse("fleet: { redis: redis://127.0.0.1 }").unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.fleet.map(|f| f.instance).unwrap_or_default().is_empty());
    }

    #[test]
    fn postgres_urls_are_checked() {
        assert_eq!(
            postgres_url_problem("postgres://sightline@127.0.0.1:5432/sightline"),
            None
        );
        assert_eq!(postgres_url_problem("postgresql://db.example/x"), None);
        assert!(postgres_url_problem("mysql://db/x").is_some());
        assert!(postgres_url_problem("postgres:///x").is_some());
        assert!(postgres_url_problem("postgres://a b@host/x").is_some());
    }
}
