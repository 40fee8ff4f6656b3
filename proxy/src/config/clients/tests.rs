use super::*;
use crate::config::{Config, ConfigError};
use http::Method;
use sightline_policy::Mode;
use std::path::Path;

fn parse(clients: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "version: 1\ninbound:\n  routes: [ {{ path_prefix: /, service: app }} ]\nservices:\n  app: {{ upstreams: [127.0.0.1:7001] }}\nclients:\n{clients}"
    );
    Config::parse(&text, "test.yaml", Path::new("/etc/sightline"))
}

#[test]
fn a_full_section_converts() {
    let c = parse(
        "  api_key_header: X-Api-Key
  trusted_proxies: [10.0.0.0/8]
  ipv6_prefix: 56
  named: [ { cidr: 10.1.0.0/16, name: acme }, { cidr: 10.1.2.0/24, name: acme-lab } ]
  rate:
    per_client: 100/s
    burst: 200
    global: 10000/s
    routes: [ { route: \"POST /login\", rate: 5/m } ]
  connections: { per_ip: 50 }
  concurrency: { max: 500 }
  logins:
    - { route: \"POST /login\", failures: 3, within: 30s, ban: 1m, escalation: 4, max_ban: 1h }
  bans: { action: close }
  scanning: { distinct_paths: 15, within: 1m, ban: 10m }
  deny_lists: [deny.txt]
  modes: { scanning: report }
",
    )
    .unwrap()
    .clients;
    assert!(c.enabled);
    assert_eq!(
        c.api_key_header.as_ref().map(|h| h.as_str()),
        Some("x-api-key")
    );
    assert_eq!(c.ipv6_prefix, 56);
    assert_eq!(&*c.named[0].1, "acme-lab", "most specific first");
    let r = c.per_client.unwrap();
    assert_eq!(
        (r.count, r.per, r.burst),
        (100, Duration::from_secs(1), 200)
    );
    assert_eq!(c.routes[0].rate.burst, 5);
    assert_eq!(c.per_ip_connections, Some(50));
    assert_eq!(c.concurrency.map(|c| c.anonymous_share), Some(0.8));
    let l = &c.logins[0];
    assert_eq!(l.statuses, vec![401, 403]);
    assert_eq!(l.escalation.length(2), Duration::from_secs(240));
    assert_eq!(c.ban_action, BanAction::Close);
    assert_eq!(c.deny_lists, vec![Path::new("/etc/sightline/deny.txt")]);
    assert_eq!(c.modes.scanning, Mode::Report);
    assert_eq!(c.modes.rate, Mode::Enforce);
    assert!(l.route.matches(&Method::POST, "/login"));
    assert!(l.route.matches(&Method::POST, "/login/sso"));
    assert!(!l.route.matches(&Method::POST, "/loginx"));
    assert!(!l.route.matches(&Method::GET, "/login"));
}

#[test]
fn without_the_section_nothing_is_protected() {
    let text = "version: 1\n";
    let c = Config::parse(text, "t.yaml", Path::new("/"))
        .unwrap()
        .clients;
    assert_eq!(c, ClientsConfig::default());
    assert!(!c.enabled && c.per_client.is_none());
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        (
            "  rate: { per_client: 100/fortnight }\n",
            7,
            "clients.rate.per_client",
            "invalid rate",
        ),
        (
            "  logins:\n    - { route: login }\n",
            8,
            "clients.logins[0].route",
            "invalid route",
        ),
        (
            "  bans: { action: tarpit }\n",
            7,
            "clients.bans.action",
            "unknown variant",
        ),
        ("  ipv6_prefix: 8\n", 7, "clients.ipv6_prefix", "16 to 128"),
        (
            "  api_key_header: \"bad header\"\n",
            7,
            "clients.api_key_header",
            "not a header",
        ),
        (
            "  rate: { per_client: 1/s, burst: 0 }\n",
            7,
            "clients.rate.burst",
            "at least 1",
        ),
        ("  surprise: 1\n", 7, "clients", "unknown field"),
    ];
    for (yaml, line, key, msg) in cases {
        let err = parse(yaml).unwrap_err();
        let issue = &err.issues[0];
        assert_eq!(issue.file, "test.yaml", "{yaml}");
        assert_eq!(issue.line, Some(line), "{yaml}: {err}");
        assert!(issue.key.starts_with(key), "{yaml}: {} vs {key}", issue.key);
        assert!(err.to_string().contains(msg), "{yaml}: {err}");
    }
}

#[test]
fn api_key_hashes_are_read_and_checked() {
    let dir = std::env::temp_dir().join(format!("sightline-keycfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.sha256");
    let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    std::fs::write(&good, format!("# keys\n{digest}  -\n\n")).unwrap();
    let c = parse(&format!(
        "  api_key_header: x-api-key\n  api_keys: {{ hashes: \"{}\", per_address: 3, within: 1m }}\n",
        good.display()
    ))
    .unwrap()
    .clients;
    assert_eq!(c.api_keys.verified.len(), 1);
    assert_eq!(
        (c.api_keys.per_address, c.api_keys.within),
        (3, Duration::from_secs(60))
    );
    let defaults = parse("  api_key_header: x-api-key\n").unwrap().clients;
    assert_eq!(defaults.api_keys.per_address, 10);
    assert!(defaults.api_keys.verified.is_empty());

    let bad = dir.join("bad.sha256");
    std::fs::write(&bad, format!("{digest}\n+{}\n", &digest[1..])).unwrap();
    let err = parse(&format!(
        "  api_key_header: x-api-key\n  api_keys: {{ hashes: \"{}\" }}\n",
        bad.display()
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("bad.sha256:2: not a SHA-256 digest"), "{err}");
    let err = parse(&format!(
        "  api_keys: {{ hashes: \"{}\" }}\n",
        good.display()
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("needs clients.api_key_header"), "{err}");
    let err = parse("  api_keys: { per_address: 0 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least 1"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mapped_ipv6_networks_are_written_as_ipv4() {
    let c =
        parse("  trusted_proxies: [\"::ffff:10.0.0.0/104\", 192.0.2.7/24, \"2001:db8::/32\"]\n")
            .unwrap()
            .clients;
    let nets: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32"]);
    assert!(c.trusted_proxy("::ffff:10.1.2.3".parse().unwrap()));
    assert!(c.trusted_proxy("10.1.2.3".parse().unwrap()));
    assert!(!c.trusted_proxy("11.1.2.3".parse().unwrap()));
}
