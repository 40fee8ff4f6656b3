//! The alert model: kinds with their default severities, states, the alert and the incident,
//! and the JSON the admin API shows for them.

use crate::clock::{from_millis, rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::config::alerts::{Kind, Severity};

/// Where an alert is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Firing, nobody has looked.
    Open,
    /// Someone has looked; repeats still count.
    Acknowledged,
    /// Over: resolved by hand or after the quiet period.
    Resolved,
}

impl State {
    /// The state's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    /// The state with this name.
    pub fn parse(name: &str) -> Option<State> {
        [State::Open, State::Acknowledged, State::Resolved]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One sink's progress with one alert.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The alert version the sink should have.
    pub wanted: u64,
    /// The alert version the sink has confirmed.
    pub done: u64,
    /// Failed attempts since the last success.
    pub failures: u32,
    /// The last failure, for operators.
    pub error: Option<String>,
}

impl Delivery {
    /// `pending`, `delivered` or `failed`, as the API shows it.
    pub fn status(&self) -> &'static str {
        if self.done >= self.wanted {
            "delivered"
        } else if self.failures > 0 {
            "failed"
        } else {
            "pending"
        }
    }

    /// Whether the sink still owes this alert a delivery.
    pub fn owed(&self) -> bool {
        self.done < self.wanted
    }
}

/// One alert: every repeat of the same kind and subject while it is not resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Increasing id.
    pub id: u64,
    /// What it is about.
    pub kind: Kind,
    /// How urgent.
    pub severity: Severity,
    /// Open, acknowledged or resolved.
    pub state: State,
    /// The thing it is about: a node, an edge, a source, a sink.
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Repeats counted while not resolved.
    pub count: u64,
    /// Unix milliseconds of the first repeat.
    pub first_seen: u64,
    /// Unix milliseconds of the last repeat.
    pub last_seen: u64,
    /// Facts of the latest repeat (observed vs expected, the call, the reason).
    pub evidence: serde_json::Value,
    /// Resolved by hand: until when (unix milliseconds) repeats of its cause count on it
    /// instead of opening a new alert.
    #[serde(default)]
    pub snoozed_until: Option<u64>,
    /// The incident it belongs to.
    pub incident: Option<u64>,
    /// The silence that matched it when it opened: it is recorded and shown, never sent to
    /// sinks.
    #[serde(default)]
    pub silenced_by: Option<u64>,
    /// Graph node ids it touches (for grouping).
    pub nodes: Vec<String>,
    /// Bumped each time sinks must hear of it again (opened, resolved).
    pub version: u64,
    /// Per sink name.
    pub delivery: BTreeMap<String, Delivery>,
}

impl Alert {
    /// The alert as the admin API and the webhook show it.
    pub fn to_json(&self) -> serde_json::Value {
        let delivery: serde_json::Map<String, serde_json::Value> = self
            .delivery
            .iter()
            .map(|(name, d)| (name.clone(), d.status().into()))
            .collect();
        serde_json::json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "severity": self.severity.as_str(),
            "state": self.state.as_str(),
            "subject": self.subject,
            "summary": self.summary,
            "count": self.count,
            "first_seen": rfc3339(from_millis(self.first_seen)),
            "last_seen": rfc3339(from_millis(self.last_seen)),
            "evidence": self.evidence,
            "snoozed_until": self.snoozed_until
                .filter(|_| self.state == State::Resolved)
                .map(|t| rfc3339(from_millis(t))),
            "incident": self.incident,
            "silenced_by": self.silenced_by,
            "nodes": self.nodes,
            "delivery": delivery,
        })
    }
}

/// A silence: alerts of a kind (about one subject, or any) that open while it lasts are recorded
/// and shown as silenced, but no sink is sent them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// Increasing id.
    pub id: u64,
    /// The kind it silences.
    pub kind: Kind,
    /// Only this subject; `None`: every subject of the kind.
    pub subject: Option<String>,
    /// Unix milliseconds of its end.
    pub until: u64,
    /// Why, for the next person.
    pub reason: String,
    /// Unix milliseconds of its start.
    pub created: u64,
}

impl Silence {
    /// Whether it silences an alert of `kind` about `subject` at `at` (unix milliseconds).
    pub fn matches(&self, kind: Kind, subject: &str, at: u64) -> bool {
        self.kind == kind && at < self.until && self.subject.as_deref().is_none_or(|s| s == subject)
    }
}

/// Related alerts around one root subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Increasing id.
    pub id: u64,
    /// The node most of its alerts touch.
    pub root: String,
    /// Open while any of its alerts is not resolved.
    pub state: State,
    /// Its alerts, oldest first (capped).
    pub alerts: Vec<u64>,
    /// How often each node appears among its alerts (capped).
    pub nodes: BTreeMap<String, u64>,
    /// Unix milliseconds.
    pub first_seen: u64,
    /// Unix milliseconds.
    pub last_seen: u64,
}

impl Incident {
    /// The incident as the admin API shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "root": self.root,
            "state": self.state.as_str(),
            "alerts": self.alerts,
            "first_seen": rfc3339(from_millis(self.first_seen)),
            "last_seen": rfc3339(from_millis(self.last_seen)),
        })
    }
}

/// One occurrence handed to the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// What it is about.
    pub kind: Kind,
    /// The thing it is about (the dedup key with the kind).
    pub subject: String,
    /// One line for people.
    pub summary: String,
    /// Facts of this occurrence.
    pub evidence: serde_json::Value,
    /// Graph node ids it touches.
    pub nodes: Vec<String>,
    /// Unix milliseconds.
    pub at: u64,
    /// How many occurrences it stands for (faults are counted in batches).
    pub count: u64,
    /// The subject of the alert that stands for many subjects from the same source (such as
    /// `orders -> *` for `orders -> 203.0.113.7:443`, or a client's network): once a source has
    /// [`crate::alerts::book::MAX_OPEN_PER_GROUP`] alerts of a kind open, its further subjects
    /// count into that one. `None` when the subject has no source to group by.
    pub group: Option<String>,
}
