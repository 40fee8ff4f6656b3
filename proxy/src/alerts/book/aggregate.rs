//! Signals counted into an alert standing for many: the inventory digest of a learning period,
//! an anomaly seen along a call chain, a source's group alert and a kind's overflow alert.

use super::{
    MAX_CHAIN_LISTED, MAX_INVENTORY_LISTED, MAX_OPEN_PER_GROUP, MAX_OPEN_PER_KIND, OVERFLOW_SUBJECT,
};
use crate::alerts::model::{Alert, Signal};
use serde_json::Value;

/// The first sightings a signal for the inventory digest carries.
pub(super) fn appeared(evidence: &mut Value) -> Vec<Value> {
    evidence
        .get_mut("appeared")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default()
}

/// How people name what a first sighting is, one and many.
fn thing(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "new_service" => ("node", "nodes"),
        "new_external_destination" => ("external destination", "external destinations"),
        "new_edge" => ("edge", "edges"),
        "new_endpoint" => ("endpoint", "endpoints"),
        _ => ("thing", "things"),
    }
}

/// Counts first sightings into the inventory digest (whose count already includes them): the
/// evidence counts them per kind, names the nodes they extend and lists the first
/// [`MAX_INVENTORY_LISTED`]; the summary says how many of each appeared and the latest.
pub(super) fn add_to_inventory(a: &mut Alert, new: Vec<Value>) {
    let latest = new
        .last()
        .map(|i| {
            let (one, _) = thing(i["kind"].as_str().unwrap_or_default());
            format!("{one} {}", i["subject"].as_str().unwrap_or_default())
        })
        .unwrap_or_default();
    if !a.evidence.is_object() {
        a.evidence = serde_json::json!({});
    }
    let Some(o) = a.evidence.as_object_mut() else {
        return;
    };
    o.insert("learning".into(), true.into());
    o.insert("appeared_total".into(), a.count.into());
    let counts = o
        .entry("counts")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .map(|c| {
            for i in &new {
                let kind = i["kind"].as_str().unwrap_or("unknown").to_owned();
                let n = c.get(&kind).and_then(Value::as_u64).unwrap_or(0);
                c.insert(kind, (n + 1).into());
            }
            c.clone()
        })
        .unwrap_or_default();
    if let Some(nodes) = o
        .entry("nodes")
        .or_insert_with(|| serde_json::json!([]))
        .as_array_mut()
    {
        for i in &new {
            let node = &i["node"];
            if node.is_string() && !nodes.contains(node) && nodes.len() < MAX_INVENTORY_LISTED {
                nodes.push(node.clone());
            }
        }
    }
    if let Some(list) = o
        .entry("appeared")
        .or_insert_with(|| serde_json::json!([]))
        .as_array_mut()
    {
        let room = MAX_INVENTORY_LISTED.saturating_sub(list.len());
        list.extend(new.into_iter().take(room));
    }
    let parts: Vec<String> = [
        "new_service",
        "new_external_destination",
        "new_edge",
        "new_endpoint",
    ]
    .iter()
    .filter_map(|k| {
        let n = counts.get(*k)?.as_u64()?;
        let (one, many) = thing(k);
        Some(format!("{n} {}", if n == 1 { one } else { many }))
    })
    .collect();
    a.summary = format!(
        "inventory: {} new while baselines learn: {} (latest: {latest})",
        a.count,
        parts.join(", ")
    );
}

/// Whether a node ties anomalies into one chain: a service or destination, not a caller from
/// outside (every call from the internet shares that node).
pub(super) fn links_chain(node: &str) -> bool {
    node != "internet" && !node.starts_with("client:")
}

/// The subjects an anomaly alert stands for, each with its count and latest summary.
pub(super) fn chain_of(a: &Alert) -> Vec<Value> {
    match a.evidence.get("chain") {
        Some(Value::Array(c)) => c.clone(),
        _ => vec![serde_json::json!({
            "kind": a.kind.as_str(),
            "subject": a.subject,
            "summary": a.summary,
            "count": a.count,
        })],
    }
}

/// Counts an anomaly of another subject along the same call chain into the chain's alert
/// (whose count and nodes already include it, and the subjects of alerts it joined, listed in
/// `joined`): the evidence is the latest subject's, with the chain's subjects listed (the first
/// [`MAX_CHAIN_LISTED`]), each with its latest summary; the summary names the nodes along the
/// chain.
pub(super) fn add_to_chain(a: &mut Alert, s: &mut Signal, joined: Vec<Value>) {
    let mut chain = {
        let others: u64 = joined.iter().filter_map(|j| j["count"].as_u64()).sum();
        let before = a.count.saturating_sub(s.count).saturating_sub(others);
        let mut c = chain_of(a);
        if a.evidence.get("chain").is_none() {
            if let Some(first) = c.first_mut() {
                first["count"] = before.into();
            }
        }
        c
    };
    for j in joined {
        if chain.len() < MAX_CHAIN_LISTED && !chain.iter().any(|c| c["subject"] == j["subject"]) {
            chain.push(j);
        }
    }
    let listed = chain.len();
    match chain
        .iter_mut()
        .find(|c| c["subject"] == s.subject.as_str())
    {
        Some(c) => {
            let n = c["count"].as_u64().unwrap_or(0).saturating_add(s.count);
            c["count"] = n.into();
            c["summary"] = s.summary.clone().into();
            c["kind"] = s.kind.as_str().into();
        }
        None if listed < MAX_CHAIN_LISTED => chain.push(serde_json::json!({
            "kind": s.kind.as_str(),
            "subject": s.subject,
            "summary": s.summary,
            "count": s.count,
        })),
        None => {}
    }
    let subjects = chain.len();
    // Anomalies of several kinds in one incident (a spike and the errors it causes) read as
    // anomalies, not as the kind of the first.
    let mixed = chain
        .iter()
        .any(|c| c["kind"].as_str().is_some_and(|k| k != a.kind.as_str()));
    let mut evidence = std::mem::take(&mut s.evidence);
    if !evidence.is_object() {
        evidence = serde_json::json!({ "latest": evidence });
    }
    if let Some(o) = evidence.as_object_mut() {
        o.insert("latest_subject".into(), s.subject.clone().into());
        o.insert("chain".into(), Value::Array(chain));
    }
    a.evidence = evidence;
    let path: Vec<&str> = a
        .nodes
        .iter()
        .map(String::as_str)
        .filter(|n| links_chain(n))
        .collect();
    let words = if mixed {
        "anomalies".to_owned()
    } else {
        a.kind.as_str().replace('_', " ")
    };
    a.summary = format!(
        "{words} along {}: {subjects} endpoints and edges (latest: {})",
        path.join(" \u{2192} "),
        s.summary
    );
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
