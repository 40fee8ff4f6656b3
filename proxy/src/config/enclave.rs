//! The `enclave:` section: the networks inside the enclave and the rules for outbound calls.

use super::context::Convert;
use super::file::{ActionFile, EnclaveFile, ModeFile, NetworkFile, RuleFile};
use sightline_policy::{EgressRule, HostPattern, Mode, Network, PathPattern, RuleAction};
use std::net::SocketAddr;

/// The enclave: networks that are inside, and rules for outbound calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveConfig {
    /// Enforce (block) or report (allow and alert) by default.
    pub mode: sightline_policy::Mode,
    /// Networks inside the enclave.
    pub networks: Vec<sightline_policy::Network>,
    /// Rules tried in order.
    pub rules: Vec<sightline_policy::EgressRule>,
}

impl EnclaveConfig {
    /// The policy for this config, never letting calls reach `own` (the proxy's listeners).
    pub fn policy(&self, own: &[SocketAddr]) -> sightline_policy::Enclave {
        sightline_policy::Enclave {
            networks: self.networks.clone(),
            rules: self.rules.clone(),
            mode: self.mode,
            own_addrs: own.to_vec(),
        }
    }
}

/// Checks the section.
pub(super) fn convert(raw: EnclaveFile, cx: &mut Convert<'_>) -> EnclaveConfig {
    let mut networks = Vec::new();
    for (i, n) in raw.networks.into_iter().enumerate() {
        networks.push(network(n, i, cx));
    }
    let mut rules = Vec::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        rules.push(rule(r, i, cx));
    }
    EnclaveConfig {
        mode: mode(raw.mode),
        networks,
        rules,
    }
}

fn mode(m: ModeFile) -> Mode {
    match m {
        ModeFile::Enforce => Mode::Enforce,
        ModeFile::Report => Mode::Report,
    }
}

/// Checks `enclave.networks[i]`: exceptions lie inside the network.
fn network(n: NetworkFile, i: usize, cx: &mut Convert<'_>) -> Network {
    match n {
        NetworkFile::Plain(net) => Network::new(net),
        NetworkFile::WithExceptions(n) => {
            let net = n.net.trunc();
            for (j, e) in n.except.iter().enumerate() {
                if !net.contains(e) {
                    cx.issue(
                        &format!("enclave.networks[{i}].except[{j}]"),
                        format!("{e} is not inside {net}"),
                    );
                }
            }
            Network {
                net,
                except: n.except,
            }
        }
    }
}

/// Checks `enclave.rules[i]`.
fn rule(r: RuleFile, i: usize, cx: &mut Convert<'_>) -> EgressRule {
    let mut patterns = Vec::new();
    for (j, h) in r.hosts.iter().enumerate() {
        match h.parse::<HostPattern>() {
            Ok(p) => patterns.push(p),
            Err(e) => cx.issue(
                &format!("enclave.rules[{i}].hosts[{j}]"),
                format!("invalid host pattern {h:?}: {e}"),
            ),
        }
    }
    if r.ports.contains(&0) {
        cx.issue(&format!("enclave.rules[{i}].ports"), "ports are 1 to 65535");
    }
    for (j, m) in r.methods.iter().enumerate() {
        if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
            cx.issue(
                &format!("enclave.rules[{i}].methods[{j}]"),
                format!("invalid method {m:?}"),
            );
        }
    }
    let mut paths = Vec::new();
    for (j, p) in r.paths.iter().enumerate() {
        match p.parse::<PathPattern>() {
            Ok(p) => paths.push(p),
            Err(e) => cx.issue(
                &format!("enclave.rules[{i}].paths[{j}]"),
                format!("invalid path pattern {p:?}: {e}"),
            ),
        }
    }
    EgressRule {
        service: r.service,
        hosts: patterns,
        cidrs: r.cidrs.into_iter().map(|c| c.trunc()).collect(),
        ports: r.ports,
        methods: r.methods,
        paths,
        action: match r.action {
            ActionFile::Allow => RuleAction::Allow,
            ActionFile::Deny => RuleAction::Deny,
        },
        mode: r.mode.map(mode),
    }
}
