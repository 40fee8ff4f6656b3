//! The demo's `alerts:` section: its blocked exfiltration and undeclared caller become alerts
//! on the dashboard, and with `--webhook` they are posted to that URL too.

/// The section for the demo config; `webhook` adds a webhook sink. Alerts stay in memory: each
/// run starts with none, so its sinks hear of every alert it raises.
pub fn section(webhook: Option<&str>) -> String {
    let mut s =
        String::from("alerts:\n  persist: false\n  quiet_period: 5m\n  incident_window: 5m\n");
    if let Some(url) = webhook {
        // A JSON string is a valid YAML double-quoted scalar.
        let url = serde_json::Value::from(url).to_string();
        s.push_str(&format!(
            "  sinks:\n    - {{ name: demo-webhook, type: webhook, url: {url}, max_backoff: 5s }}\n"
        ));
    }
    s
}
