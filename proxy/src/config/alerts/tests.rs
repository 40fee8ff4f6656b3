use super::*;
use crate::config::Config;

fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::parse(text, "a.yaml", Path::new("/etc/sightline"))
}

#[test]
fn sinks_convert_with_defaults_and_filters() {
    let c = parse(
        "version: 1
alerts:
  quiet_period: 2m
  persist: false
  severities: { new_edge: low, egress_blocked: critical }
  sinks:
    - { type: webhook, url: \"https://hooks.example/x\", secret: 0123456789abcdef, kinds: [egress_blocked], min_severity: high }
    - { type: slack, url: \"https://hooks.slack.example/T/B\" }
    - { name: siem, type: syslog, url: \"tcp://127.0.0.1:514\" }
    - { name: siem-udp, type: syslog, url: \"udp://127.0.0.1:514\", format: json }
    - { type: alertmanager, url: \"http://127.0.0.1:9093\" }
    - { type: jsonl, path: alerts.jsonl }
    - { name: out, type: jsonl, path: \"-\" }
",
    )
    .unwrap();
    let a = &c.alerts;
    assert_eq!(a.quiet_period, Duration::from_secs(120));
    assert!(!a.persist);
    assert!(
        parse("version: 1\n").unwrap().alerts.persist,
        "kept by default"
    );
    assert_eq!(a.incident_window, Duration::from_secs(600));
    assert_eq!(a.severities[&Kind::EgressBlocked], Severity::Critical);
    let names: Vec<_> = a.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "webhook",
            "slack",
            "siem",
            "siem-udp",
            "alertmanager",
            "jsonl",
            "out"
        ]
    );
    assert_eq!(a.sinks[0].kinds, [Kind::EgressBlocked]);
    assert_eq!(a.sinks[0].min_severity, Severity::High);
    assert!(matches!(
        &a.sinks[1].target,
        SinkTarget::Webhook { slack: true, .. }
    ));
    assert!(matches!(
        &a.sinks[2].target,
        SinkTarget::Syslog {
            transport: Transport::Tcp,
            cef: true,
            ..
        }
    ));
    assert!(matches!(
        &a.sinks[3].target,
        SinkTarget::Syslog { cef: false, .. }
    ));
    assert_eq!(
        a.sinks[5].target,
        SinkTarget::Jsonl {
            path: Some(PathBuf::from("/etc/sightline/alerts.jsonl"))
        }
    );
    assert_eq!(a.sinks[6].target, SinkTarget::Jsonl { path: None });
}

#[test]
fn bad_sinks_name_file_line_and_key() {
    let e = parse(
        "version: 1
alerts:
  sinks:
    - { type: webhook, url: \"ftp://x\" }
    - { type: syslog, url: \"udp://nohost\" }
    - { type: webhook, url: \"http://a/\", secret: short }
    - { type: jsonl }
",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a.yaml:4:"), "{e}");
    assert!(e.contains("alerts.sinks[0].url"), "{e}");
    assert!(
        e.contains("a.yaml:5:")
            && e.contains("alerts.sinks[1].url: \"udp://nohost\": needs host:port"),
        "{e}"
    );
    assert!(e.contains("alerts.sinks[2].secret"), "{e}");
    assert!(e.contains("alerts.sinks[3].path"), "{e}");
}

#[test]
fn unknown_kinds_and_types_are_rejected_with_their_line() {
    let e = parse("version: 1\nalerts:\n  severities:\n    egress_blockd: high\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a.yaml:4:") && e.contains("egress_blocked"),
        "{e}"
    );
    let e = parse("version: 1\nalerts:\n  sinks:\n    - { type: pager, url: \"http://x\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.yaml:4:") && e.contains("webhook"), "{e}");
}
