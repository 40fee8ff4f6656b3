//! The outcome of a policy check, carried into every call record.

use serde::Serialize;
use std::fmt;

/// What the proxy did with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Forwarded; nothing objected.
    Allowed,
    /// Forwarded, but a rule in report mode objected: an alert, not a block.
    Reported,
    /// Refused by a rule in enforce mode.
    Blocked,
    /// Refused or slowed by a rate or concurrency limit.
    Limited,
}

impl Decision {
    /// The lowercase name used in records, metrics labels and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Reported => "reported",
            Decision::Blocked => "blocked",
            Decision::Limited => "limited",
        }
    }

    /// Parses the lowercase name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allowed" => Some(Decision::Allowed),
            "reported" => Some(Decision::Reported),
            "blocked" => Some(Decision::Blocked),
            "limited" => Some(Decision::Limited),
            _ => None,
        }
    }

    /// Every decision, in a stable order (for metrics).
    pub const ALL: [Decision; 4] = [
        Decision::Allowed,
        Decision::Reported,
        Decision::Blocked,
        Decision::Limited,
    ];
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision together with the reason a person reads in the record or alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What was done.
    pub decision: Decision,
    /// Why, in a few words; empty when simply allowed.
    pub reason: String,
}

impl Verdict {
    /// Allowed with no objection.
    pub fn allowed() -> Self {
        Verdict {
            decision: Decision::Allowed,
            reason: String::new(),
        }
    }

    /// A decision with its reason.
    pub fn new(decision: Decision, reason: impl Into<String>) -> Self {
        Verdict {
            decision,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Decision::ALL {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
        assert_eq!(Decision::parse("ALLOWED"), None);
    }
}
