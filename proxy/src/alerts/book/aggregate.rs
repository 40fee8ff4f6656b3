//! Signals counted into an alert standing for many: a node's inventory notice, a source's group
//! alert and a kind's overflow alert.

use super::{MAX_INVENTORY_LISTED, MAX_OPEN_PER_GROUP, MAX_OPEN_PER_KIND, OVERFLOW_SUBJECT};
use crate::alerts::model::{Alert, Signal};

/// Counts a first sighting into a node's inventory notice: the evidence lists what appeared
/// (the first [`MAX_INVENTORY_LISTED`]) and how many things did; the summary says so.
pub(super) fn add_to_inventory(a: &mut Alert, s: &mut Signal) {
    let new: Vec<serde_json::Value> = s
        .evidence
        .get_mut("appeared")
        .and_then(serde_json::Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let latest = new
        .last()
        .map(|i| {
            let kind = i["kind"].as_str().unwrap_or_default().replace('_', " ");
            format!("{kind} {}", i["subject"].as_str().unwrap_or_default())
        })
        .unwrap_or_default();
    if !a.evidence.is_object() {
        a.evidence = serde_json::json!({});
    }
    if let Some(o) = a.evidence.as_object_mut() {
        let listed = o.entry("appeared").or_insert_with(|| serde_json::json!([]));
        if let Some(list) = listed.as_array_mut() {
            let room = MAX_INVENTORY_LISTED.saturating_sub(list.len());
            list.extend(new.into_iter().take(room));
        }
        o.insert("appeared_total".into(), a.count.into());
    }
    a.summary = crate::alerts::intake::inventory_summary(&a.subject, a.count, &latest);
}

/// The signal as counted into its source's group alert: many subjects from one source.
pub(super) fn grouped(s: Signal, group: String) -> Signal {
    let words = s.kind.as_str().replace('_', " ");
    Signal {
        summary: format!(
            "{words}: {group} (more than {MAX_OPEN_PER_GROUP} subjects from one source; latest {})",
            s.subject
        ),
        evidence: serde_json::json!({
            "aggregate": "source",
            "latest_subject": s.subject,
            "latest": s.evidence,
        }),
        // The source's node only: the many destinations are not one node.
        nodes: s.nodes.into_iter().take(1).collect(),
        subject: group,
        group: None,
        ..s
    }
}

/// The signal as counted into its kind's overflow alert.
pub(super) fn overflowing(s: Signal) -> Signal {
    let words = s.kind.as_str().replace('_', " ");
    Signal {
        summary: format!(
            "{words}: more than {MAX_OPEN_PER_KIND} alerts of this kind open; further subjects are counted here (latest {})",
            s.subject
        ),
        evidence: serde_json::json!({
            "aggregate": "kind",
            "latest_subject": s.subject,
            "latest": s.evidence,
        }),
        nodes: vec!["sightline:alerts".into()],
        subject: OVERFLOW_SUBJECT.into(),
        group: None,
        ..s
    }
}
