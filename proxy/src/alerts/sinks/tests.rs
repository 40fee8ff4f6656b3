use super::cef;
use super::syslog::message;
use super::webhook::{signature, signing_key, slack_escape, slack_message};
use crate::alerts::model::{Alert, Kind, Severity, State};
use std::collections::BTreeMap;

fn alert(summary: &str, path: &str, host: &str) -> Alert {
    Alert {
        id: 7,
        kind: Kind::EgressBlocked,
        severity: Severity::High,
        state: State::Open,
        subject: format!("orders -> {host}:80"),
        summary: summary.into(),
        count: 3,
        first_seen: 1_700_000_000_000,
        last_seen: 1_700_000_001_000,
        evidence: serde_json::json!({
            "path": path, "host": host, "source": "orders",
            "source_addr": "10.0.0.9:4000", "method": "GET", "reason": "not allowed",
        }),
        snoozed_until: None,
        silenced_by: None,
        incident: Some(2),
        nodes: vec![],
        version: 1,
        delivery: BTreeMap::new(),
    }
}

#[test]
fn cef_header_escapes_pipe_and_backslash_and_drops_line_breaks() {
    assert_eq!(cef::header(r"a|b\c"), r"a\|b\\c");
    assert_eq!(cef::header("a\nb\rc"), "a b c");
    assert_eq!(cef::header("x=y"), "x=y", "equals is literal in the header");
}

#[test]
fn cef_extension_escapes_backslash_equals_and_line_breaks() {
    assert_eq!(cef::value(r"a=b\c"), r"a\=b\\c");
    assert_eq!(cef::value("l1\nl2\r"), r"l1\nl2\r");
    assert_eq!(cef::value("a|b"), "a|b", "pipe is literal in extensions");
    assert_eq!(cef::value(&"x".repeat(5000)).len(), 1024);
}

#[test]
fn a_cef_record_keeps_attacker_strings_in_their_fields() {
    let a = alert("blocked a|b", "/x|y\\z=1\nSet: evil", "h=|\\.example");
    let rec = cef::record(&a);
    assert!(!rec.contains('\n'));
    assert!(rec.starts_with(&format!(
        "CEF:0|Sightline|Sightline|{}|egress_blocked|blocked a\\|b|8|",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        rec.contains(r"request=/x|y\\z\=1\nSet: evil reason="),
        "{rec}"
    );
    assert!(rec.contains(r"dhost=h\=|\\.example"), "{rec}");
    assert!(rec.contains(" cnt=3 "));
    assert!(rec.contains(" src=10.0.0.9"));
    assert!(rec.contains(" cs2=2"));
}

#[test]
fn syslog_messages_follow_rfc5424() {
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
    let m = message(&alert("s", "/", "h"), true, "box1", now);
    let want = format!(
        "<35>1 2023-11-14T22:13:20.123Z box1 sightline {} egress_blocked - CEF:0|",
        std::process::id()
    );
    assert!(m.starts_with(&want), "{m}");
}

#[test]
fn slack_text_cannot_form_links_or_mentions() {
    assert_eq!(
        slack_escape("<@here> & <http://x|y>"),
        "&lt;@here&gt; &amp; &lt;http://x|y&gt;"
    );
    let m = slack_message(&alert("to <!channel>", "/", "h"));
    assert_eq!(
        m["text"],
        "[HIGH] egress_blocked: to &lt;!channel&gt; (3x, alert 7)"
    );
}

#[test]
fn webhook_signature_follows_standard_webhooks() {
    // The example of the Standard Webhooks specification.
    let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    // The id and the time are signed: the same body at another time or under another id
    // does not verify.
    assert_ne!(
        signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body),
        signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    );
    assert_ne!(
        signature(&key, "msg_other", 1614265330, body),
        signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    );
    // Any other secret is the key as its bytes.
    let raw = signing_key("Jefe");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe"),
        b"1.2.3.{}",
    );
    use base64::Engine as _;
    assert_eq!(
        signature(&raw, "1.2", 3, b"{}"),
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    );
}

#[test]
fn alertmanager_alerts_end_once_resolved() {
    let mut a = alert("s", "/", "h");
    // While open: four refresh periods (4 minutes) after the post.
    let p = super::alertmanager_payload(&a, 1_700_000_100_000);
    assert_eq!(p[0]["labels"]["alertname"], "egress_blocked");
    assert_eq!(p[0]["labels"]["severity"], "high");
    assert_eq!(p[0]["endsAt"], "2023-11-14T22:19:00.000Z");
    a.state = State::Resolved;
    let p = super::alertmanager_payload(&a, 1_700_000_100_000);
    assert_eq!(p[0]["endsAt"], "2023-11-14T22:13:21.000Z");
}
