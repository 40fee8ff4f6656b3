//! Alert sinks against real receivers from Debian on loopback: rsyslog taking RFC 5424 with a
//! CEF payload over TCP and UDP (lines parsed back, attacker-controlled strings checked field
//! by field), and Alertmanager taking alerts through its API v2 and listing them back.

use sightline::alerts::model::{Kind, Signal};
use sightline::alerts::{Alerts, Faults};
use sightline_tests::eventually;
use sightline_tests::proxy::config;
use sightline_tests::receivers::{Alertmanager, Rsyslog};
use sightline_tests::Client;
use std::collections::BTreeMap;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A blocked call whose path and host carry every character CEF must escape.
fn hostile(kind: Kind, subject: &str) -> Signal {
    Signal {
        kind,
        subject: subject.into(),
        summary: format!("{}: {subject}", kind.as_str().replace('_', " ")),
        evidence: serde_json::json!({
            "path": "/x|y\\z=1\nCEF:0|forged|line",
            "host": "evil|host=\\.example",
            "source": "orders",
            "source_addr": "10.1.2.3:4000",
            "method": "GET",
            "reason": "not allowed\r\nby policy",
        }),
        nodes: vec!["service:orders".into()],
        at: now_ms(),
        count: 1,
        group: None,
    }
}

/// Splits a CEF record into its seven header fields and its extension map, undoing the
/// escapes.
fn parse_cef(rec: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut header = Vec::new();
    let mut cur = String::new();
    let mut chars = rec.chars();
    while header.len() < 7 {
        match chars.next().expect("a CEF header has 7 fields") {
            '\\' => cur.push(chars.next().unwrap()),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let ext: String = chars.collect();
    // Unescaped `=` ends a key: the key is the last word before it.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut buf = String::new();
    let mut it = ext.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next().unwrap() {
                'n' => buf.push('\n'),
                'r' => buf.push('\r'),
                other => buf.push(other),
            },
            '=' => {
                let (value, key) = match buf.rfind(' ') {
                    Some(i) => (buf[..i].to_owned(), buf[i + 1..].to_owned()),
                    None => (String::new(), buf.clone()),
                };
                if let Some(last) = pairs.last_mut() {
                    last.1 = value;
                }
                pairs.push((key, String::new()));
                buf.clear();
            }
            c => buf.push(c),
        }
    }
    if let Some(last) = pairs.last_mut() {
        last.1 = buf;
    }
    (header, pairs.into_iter().collect())
}

#[tokio::test]
async fn rsyslog_receives_cef_over_tcp_and_udp_with_attacker_strings_escaped() {
    let rsyslog = Rsyslog::start();
    let cfg = config(&format!(
        "alerts:
  sinks:
    - {{ name: siem-tcp, type: syslog, url: \"tcp://127.0.0.1:{}\", kinds: [egress_blocked] }}
    - {{ name: siem-udp, type: syslog, url: \"udp://127.0.0.1:{}\", kinds: [egress_reported] }}
",
        rsyslog.tcp, rsyslog.udp
    ));
    // rsyslog starts its inputs together: once TCP accepts, UDP is bound too.
    eventually("rsyslog listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", rsyslog.tcp))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let alerts = Alerts::start(&cfg.alerts, None, Faults::default()).unwrap();
    let subject = "orders -> evil|host=\\.example:80";
    alerts.raise(hostile(Kind::EgressBlocked, subject));
    alerts.raise(hostile(Kind::EgressReported, subject));
    let lines = eventually("a CEF line over TCP and one over UDP", || async {
        let lines: Vec<String> = rsyslog
            .lines()
            .into_iter()
            .filter(|l| l.contains("CEF:0|Sightline"))
            .collect();
        (lines.len() >= 2).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let mut transports = Vec::new();
    for line in &lines {
        // <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let parts: Vec<&str> = line.splitn(8, ' ').collect();
        assert_eq!(parts.len(), 8, "{line}");
        let (pri, cef_severity) = match parts[5] {
            "egress_blocked" => ("<35>1", "8"),
            _ => ("<36>1", "5"),
        };
        transports.push(parts[5].to_owned());
        assert_eq!(
            parts[0], pri,
            "facility auth, severity by alert severity: {line}"
        );
        assert!(parts[1].ends_with('Z') && parts[1].contains('T'), "{line}");
        assert_eq!(parts[3], "sightline");
        assert_eq!(parts[4], std::process::id().to_string());
        assert_eq!(parts[6], "-");
        let (header, ext) = parse_cef(parts[7]);
        assert_eq!(header[0], "CEF:0");
        assert_eq!(header[1], "Sightline");
        assert_eq!(header[4], parts[5]);
        assert_eq!(
            header[5],
            format!("{}: {subject}", parts[5].replace('_', " "))
        );
        assert_eq!(header[6], cef_severity);
        assert_eq!(ext["request"], "/x|y\\z=1\nCEF:0|forged|line");
        assert_eq!(ext["dhost"], "evil|host=\\.example");
        assert_eq!(ext["cs1"], subject);
        assert_eq!(ext["cs1Label"], "subject");
        assert_eq!(ext["reason"], "not allowed\r\nby policy");
        assert_eq!(ext["src"], "10.1.2.3");
        assert_eq!(ext["suser"], "orders");
        assert_eq!(ext["cnt"], "1");
        assert_eq!(ext["act"], "open");
    }
    transports.sort();
    assert_eq!(
        transports,
        ["egress_blocked", "egress_reported"],
        "TCP and UDP"
    );
    alerts.stop().await;
}

#[tokio::test]
async fn rsyslog_receives_cef_over_tls_verified_against_the_configured_ca() {
    let dir = std::env::temp_dir().join(format!("sightline-syslog-tls-{}", std::process::id()));
    let m = sightline_certs::DevMaterial::write(&dir, &["localhost", "127.0.0.1"]).unwrap();
    let rsyslog = Rsyslog::start_tls(&m.server_cert, &m.server_key, &m.ca);
    eventually("rsyslog listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", rsyslog.tcp))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let cfg = config(&format!(
        "alerts:
  sinks:
    - {{ name: siem-tls, type: syslog, url: \"tls://127.0.0.1:{}\", ca: {:?}, max_backoff: 200ms }}
",
        rsyslog.tcp,
        m.ca.display().to_string()
    ));
    let alerts = Alerts::start(&cfg.alerts, None, Faults::default()).unwrap();
    let subject = "orders -> evil|host=\\.example:80";
    alerts.raise(hostile(Kind::EgressBlocked, subject));
    let line = eventually("a CEF line over TLS", || async {
        rsyslog
            .lines()
            .into_iter()
            .find(|l| l.contains("CEF:0|Sightline"))
    })
    .await;
    let parts: Vec<&str> = line.splitn(8, ' ').collect();
    assert_eq!(parts[5], "egress_blocked", "{line}");
    let (header, ext) = parse_cef(parts[7]);
    assert_eq!(header[5], format!("egress blocked: {subject}"));
    assert_eq!(ext["request"], "/x|y\\z=1\nCEF:0|forged|line");
    let id = alerts.list(&Default::default())["alerts"][0]["id"]
        .as_u64()
        .unwrap();
    eventually("delivered over TLS", || async {
        (alerts.get(id)?["delivery"]["siem-tls"] == "delivered").then_some(())
    })
    .await;
    alerts.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn alertmanager_receives_alerts_and_lists_them_through_its_api() {
    let am = Alertmanager::start();
    eventually("alertmanager ready", || async {
        let r = Client::http1()
            .send(am.addr, sightline_tests::client::get(am.addr, "/-/ready"))
            .await
            .ok()?;
        (r.status == 200).then_some(())
    })
    .await;
    let cfg = config(&format!(
        "alerts:
  sinks:
    - {{ name: am, type: alertmanager, url: \"http://{}\", max_backoff: 200ms }}
",
        am.addr
    ));
    let alerts = Alerts::start(&cfg.alerts, None, Faults::default()).unwrap();
    alerts.raise(hostile(Kind::EgressBlocked, "orders -> 169.254.169.254:80"));
    let listed = eventually("the alert listed by Alertmanager", || async {
        let r = Client::http1()
            .send(
                am.addr,
                sightline_tests::client::get(am.addr, "/api/v2/alerts"),
            )
            .await
            .ok()?;
        let list = r.json();
        list.as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "egress_blocked")
            .cloned()
    })
    .await;
    assert_eq!(listed["labels"]["severity"], "high");
    assert_eq!(listed["labels"]["subject"], "orders -> 169.254.169.254:80");
    assert_eq!(listed["labels"]["source"], "sightline");
    assert_eq!(listed["status"]["state"], "active");
    // Sent with an end minutes ahead, so Alertmanager keeps it firing between re-sends
    // instead of ending it after its resolve_timeout.
    let ends = humantime::parse_rfc3339_weak(listed["endsAt"].as_str().unwrap()).unwrap();
    let ahead = ends
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(ahead > std::time::Duration::from_secs(180), "{listed}");
    assert_eq!(
        listed["annotations"]["summary"],
        "egress blocked: orders -> 169.254.169.254:80"
    );
    let id = alerts.list(&Default::default())["alerts"][0]["id"]
        .as_u64()
        .unwrap();
    assert_eq!(listed["labels"]["sightline_alert"], id.to_string());
    eventually("delivery status visible", || async {
        (alerts.get(id)?["delivery"]["am"] == "delivered").then_some(())
    })
    .await;
    alerts.stop().await;
}

#[tokio::test]
async fn slack_and_json_lines_sinks_receive_their_formats_with_filters_applied() {
    let slack = sightline_tests::receivers::WebhookReceiver::start().await;
    let file = std::env::temp_dir().join(format!("sightline-alerts-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let cfg = config(&format!(
        "alerts:
  sinks:
    - {{ name: chat, type: slack, url: \"http://{}/services/T/B/X\", min_severity: high }}
    - {{ name: archive, type: jsonl, path: {:?}, kinds: [egress_reported] }}
",
        slack.addr,
        file.display().to_string()
    ));
    let alerts = Alerts::start(&cfg.alerts, None, Faults::default()).unwrap();
    alerts.raise(hostile(Kind::EgressReported, "orders -> <!channel>:443"));
    alerts.raise(hostile(
        Kind::EgressBlocked,
        "orders -> <@U123>:80 <https://evil.example|click> &amp;",
    ));
    let msg = eventually("a Slack message", || async {
        slack.received().first().cloned()
    })
    .await;
    assert_eq!(
        msg.json()["text"],
        "[HIGH] egress_blocked: egress blocked: orders -&gt; &lt;@U123&gt;:80 &lt;https://evil.example|click&gt; &amp;amp; (1x, alert 2)"
    );
    assert_eq!(msg.json()["unfurl_links"], false);
    assert_eq!(msg.json()["unfurl_media"], false);
    let line = eventually("a JSON line", || async {
        let text = std::fs::read_to_string(&file).ok()?;
        text.lines().next().map(str::to_owned)
    })
    .await;
    let a: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(a["kind"], "egress_reported");
    assert_eq!(a["subject"], "orders -> <!channel>:443");
    eventually(
        "both delivered, each only where its filter allows",
        || async {
            let list = alerts.list(&Default::default());
            let list = list["alerts"].as_array()?.clone();
            let by_kind = |k: &str| list.iter().find(|a| a["kind"] == k).cloned();
            let reported = by_kind("egress_reported")?;
            let blocked = by_kind("egress_blocked")?;
            (reported["delivery"] == serde_json::json!({"archive": "delivered"})
                && blocked["delivery"] == serde_json::json!({"chat": "delivered"}))
            .then_some(())
        },
    )
    .await;
    assert_eq!(
        slack.received().len(),
        1,
        "medium is below the Slack sink's minimum"
    );
    alerts.stop().await;
    let _ = std::fs::remove_file(&file);
}

/// An alert as the book hands it to a sink.
fn alert(id: u64, summary: String) -> sightline::alerts::model::Alert {
    sightline::alerts::model::Alert {
        id,
        kind: Kind::EgressBlocked,
        severity: sightline::alerts::model::Severity::High,
        state: sightline::alerts::model::State::Open,
        subject: "orders -> 203.0.113.9:443".into(),
        summary,
        count: 1,
        first_seen: now_ms(),
        last_seen: now_ms(),
        evidence: serde_json::json!({}),
        snoozed_until: None,
        incident: None,
        silenced_by: None,
        nodes: vec![],
        version: 1,
        delivery: BTreeMap::new(),
    }
}

/// A syslog frame cut off by the delivery timeout (the receiver stopped reading) must never be
/// followed by another frame on the same connection: the receiver would read the next alert
/// as the rest of the cut one. The sink drops the connection on any partial write and the
/// next alert arrives whole, on a new connection.
#[tokio::test]
async fn a_syslog_frame_cut_by_the_timeout_does_not_shift_the_next_ones() {
    use sightline::alerts::sinks::syslog::Syslog;
    use sightline::config::alerts::Transport;
    use std::time::Duration;
    let receiver = sightline_tests::receivers::SyslogStreamReceiver::start_held().await;
    let mut sink = Syslog::new(Transport::Tcp, receiver.addr.to_string(), false, None).unwrap();
    // Far larger than the socket buffers: the write stalls part-way while the receiver is
    // held, and the delivery gives up on it as the sink task does.
    let huge = alert(1, "x".repeat(16 << 20));
    let cut = tokio::time::timeout(Duration::from_millis(300), sink.send(&huge)).await;
    assert!(cut.is_err(), "the write should stall: {cut:?}");
    receiver.release();
    for id in 2..=4 {
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            sink.send(&alert(id, format!("after {id}"))),
        )
        .await;
        assert!(matches!(sent, Ok(Ok(()))), "alert {id}: {sent:?}");
    }
    let messages = eventually("the three later alerts, each whole", || async {
        let m = receiver.messages();
        (m.len() >= 3).then_some(m)
    })
    .await;
    for (i, id) in (2..=4).enumerate() {
        let json = messages[i].split_once(" - ").unwrap().1;
        let a: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(a["id"], id, "{}", messages[i]);
        assert_eq!(a["summary"], format!("after {id}"));
    }
    assert_eq!(receiver.bad_frames(), Vec::<String>::new());
    // The first connection, read to its end, held only the cut frame.
    eventually("the cut frame dropped with its connection", || async {
        (receiver.cut_frames() == 1).then_some(())
    })
    .await;
    assert_eq!(receiver.connections(), 2);
    assert_eq!(receiver.bad_frames(), Vec::<String>::new());
}
