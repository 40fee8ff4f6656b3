//! The observe phase, after the response status is known: what a finished call says about its
//! client and its endpoint. In order: the client's own entry learns the endpoint (a known client
//! on a new one is uncommon, `endpoint.rs`); the client that answers for the call is judged on
//! failed logins (`logins.rs`) and missing paths (`scanning.rs`), either of which may ban it
//! (`super::bans`); failed logins on one route from many clients are stuffing (`stuffing.rs`);
//! the global and per-endpoint minute meters see floods and surges (`meters.rs`). Everything
//! becomes a signal on the call's record.

mod endpoint;
mod logins;
mod meters;
mod scanning;
mod stuffing;

use super::entry::ClientState;
use super::{ClientGuard, ClientSignal, ConnFlags};
use crate::config::clients::ClientsConfig;
use http::Method;
use sightline_policy::clients::{ClientId, ClientKind, Escalation, Micros};
use sightline_policy::Mode;
use std::hash::BuildHasher;

/// A finished call, as observation reads it.
struct Finished<'a> {
    method: &'a Method,
    path: &'a str,
    status: u16,
    /// `METHOD route`, when the call was routed.
    endpoint: Option<&'a str>,
    now: Micros,
}

/// A ban a rule calls for.
struct BanCause {
    /// `failed_logins` or `scanning`.
    reason: &'static str,
    escalation: Escalation,
    mode: Mode,
}

/// What a call says against the client that answers for it.
#[derive(Default)]
struct Judged {
    ban: Option<BanCause>,
    /// The login rules (their indexes) the call failed.
    failed_logins: Vec<usize>,
}

impl ClientGuard {
    /// Learns from a finished call's status: failed logins and scans may ban; stuffing,
    /// uncommon endpoints, surges and floods become signals. `endpoint` is `METHOD route`
    /// when the call was routed.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        method: &Method,
        path: &str,
        status: u16,
        endpoint: Option<&str>,
    ) -> Vec<ClientSignal> {
        let mut signals = Vec::new();
        if !cfg.enabled {
            return signals;
        }
        let call = Finished {
            method,
            path,
            status,
            endpoint,
            now: self.now(),
        };
        signals.extend(self.take_fleet_signals());
        signals.extend(self.learn_endpoint(cfg, flags, client, &call));
        let judged = self.judge(cfg, flags, client, &call, &mut signals);
        if !flags.exempt {
            let accountable = client.accountable();
            self.share_windows(cfg, accountable, &judged.failed_logins, path, status);
        }
        for rule in judged.failed_logins {
            signals.extend(self.stuffing(cfg, rule, client.accountable(), call.now));
        }
        if let (Some(cause), false) = (judged.ban, flags.exempt) {
            let enforce = cause.mode == Mode::Enforce;
            let reason = cause.reason;
            signals.push(self.ban(client, reason, &cause.escalation, enforce, call.now));
        }
        signals.extend(self.global_flood(cfg));
        if let Some(e) = endpoint {
            self.meter_endpoint(cfg, client, e, call.now, &mut signals);
        }
        signals
    }

    /// Failed logins and scans count against whoever answers for them (an API-key client's
    /// address), in that entry's own state. An allow-listed client is exempt from bans and
    /// from being judged a scanner.
    fn judge(
        &self,
        cfg: &ClientsConfig,
        flags: &ConnFlags,
        client: &ClientId,
        call: &Finished,
        signals: &mut Vec<ClientSignal>,
    ) -> Judged {
        let accountable = client.accountable();
        let kind = if accountable == &client.id {
            client.kind
        } else {
            ClientKind::Address
        };
        let path_hash = self.hasher.hash_one(call.path);
        self.clients.with(
            accountable,
            || ClientState::new(kind, call.now),
            |st| {
                let mut judged = Judged::default();
                if flags.exempt {
                    return judged;
                }
                let login = logins::fail(st, cfg, call, &mut judged.failed_logins);
                let scan = scanning::note(st, cfg, path_hash, call, signals);
                judged.ban = login.or(scan);
                judged
            },
        )
    }
}
