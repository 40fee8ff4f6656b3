//! What the client protections leave on a [`super::CallRecord`]: who the client was, which
//! protection fired, and what the call set off (a ban, a scan, a surge). The recorder turns
//! these into security events, off the data path.

use sightline_policy::clients::Micros;
use std::sync::Arc;

/// The client protections' part of a call record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientMark {
    /// The client id (certificate identity, `key:<hash>`, network name or grouped address).
    pub client: Option<Arc<str>>,
    /// What the id rests on: `certificate`, `api_key`, `named`, `address`.
    pub kind: Option<&'static str>,
    /// The protection that limited, blocked or reported the call.
    pub protection: Option<&'static str>,
    /// What this call set off.
    pub signals: Vec<ClientSignal>,
    /// The client's address as a trusted proxy forwarded it (`None` when the client is the
    /// peer): the span's `client.address`.
    pub forwarded_for: Option<std::net::IpAddr>,
}

/// Something a call set off, raised as an event by the recorder.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientSignal {
    /// The client is banned from now on (or would be, in report mode).
    Banned {
        /// Who is banned: the client id, or the address of an API-key client.
        client: Arc<str>,
        /// `failed_logins` or `scanning`.
        reason: &'static str,
        /// Bans in a row, 1 for the first.
        strikes: u32,
        /// When the ban ends.
        until: Micros,
        /// False in report mode: the ban was not applied.
        enforced: bool,
    },
    /// Many distinct missing paths from this client within the window.
    Scanning {
        /// Distinct 404/405 paths.
        distinct_paths: u32,
    },
    /// Failed logins from many clients on one login route.
    CredentialStuffing {
        /// The login route.
        route: String,
        /// Distinct failing clients within the window.
        clients: u32,
    },
    /// A known client called an endpoint it never called before.
    UncommonEndpoint {
        /// `METHOD route`.
        endpoint: String,
        /// The hour of the day (UTC, 0–23) of the call when the client had never been active
        /// at that hour before: a new endpoint at an unusual hour for this client.
        unusual_hour: Option<u8>,
    },
    /// A rarely used endpoint suddenly called by many clients.
    EndpointSurge {
        /// `METHOD route`.
        endpoint: String,
        /// Distinct clients this minute.
        clients: u32,
    },
    /// Traffic far above its usual level.
    Flood {
        /// `global` or `METHOD route`.
        scope: String,
        /// Calls this minute so far.
        per_minute: u64,
        /// The usual calls per minute.
        baseline: u64,
    },
}
