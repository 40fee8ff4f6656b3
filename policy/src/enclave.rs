//! The enclave decision: may this source call this destination, dialed at this address?
//!
//! Steps, in order:
//! 1. Sightline's own listeners are never a destination, in any mode.
//! 2. Cloud metadata endpoints ([`crate::METADATA_ENDPOINTS`]) are blocked in every mode unless
//!    an allow rule's CIDR is exactly that address; no enclave network opens one. Other
//!    special-purpose addresses (loopback, private, link-local, ...) are refused unless named by
//!    an enclave network or an allow rule's CIDR at least as specific as the special range. A
//!    host name never opens one: a name that resolves to 169.254.169.254 is DNS rebinding.
//!    Loopback, unspecified and link-local stay blocked even in report mode.
//! 3. Rules, first match decides: allow, or deny (blocked, or reported in report mode).
//! 4. No rule: calls inside the enclave are allowed, calls outside are refused.

mod rule;

pub use rule::{EgressRule, Mode, RuleAction};

use crate::address::{classify, effective_ip, special_range, AddressClass};
use crate::decision::{Decision, Verdict};
use crate::host::Host;
use crate::metadata::metadata_endpoint;
use crate::network::Network;
use crate::request::RequestLine;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The networks Sightline guards, the egress rules, the mode, and Sightline's own listeners.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enclave {
    /// The enclave: destinations here are internal calls, allowed unless a rule says otherwise.
    pub networks: Vec<Network>,
    /// Egress rules, tried in order.
    pub rules: Vec<EgressRule>,
    /// The mode for objections of rules without their own mode, and for refused destinations.
    pub mode: Mode,
    /// Sightline's listening addresses; a wildcard address stands for loopback too. (The proxy
    /// itself refuses the host's other addresses on a wildcard listener's port.)
    pub own_addrs: Vec<SocketAddr>,
}

/// The enclave's answer for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressVerdict {
    /// What to do with the call.
    pub decision: Decision,
    /// Why, for a person reading the record or alert.
    pub reason: String,
    /// Whether the destination is inside the enclave.
    pub inside: bool,
    /// The index of the rule that decided, if one did.
    pub rule: Option<usize>,
    /// What decided, without the addresses involved.
    pub cause: Cause,
}

/// What decided a call. Unlike the reason, it never names an address, so it is what the caller
/// may be told: a name's resolved addresses stay in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The destination is one of Sightline's own listeners.
    OwnListener,
    /// A cloud metadata endpoint that no allow rule names exactly.
    Metadata,
    /// A special-purpose address that nothing names.
    SpecialAddress,
    /// The egress rule of [`EgressVerdict::rule`].
    Rule,
    /// No rule matched; the destination is inside the enclave.
    Inside,
    /// No rule matched; the destination is outside the enclave.
    Outside,
}

impl EgressVerdict {
    /// The decision and reason alone, as carried in call records.
    pub fn verdict(&self) -> Verdict {
        Verdict::new(self.decision, self.reason.clone())
    }

    /// The reason without any address: what the caller is told.
    pub fn public_reason(&self) -> String {
        match self.cause {
            Cause::Metadata => {
                "destination is a cloud metadata endpoint that no allow rule names exactly".into()
            }
            Cause::SpecialAddress => "destination is a special-purpose address that no enclave \
                                      network or allow rule CIDR names"
                .into(),
            // These reasons name no address.
            Cause::OwnListener | Cause::Rule | Cause::Inside | Cause::Outside => {
                self.reason.clone()
            }
        }
    }
}

impl Enclave {
    /// Whether `ip` (judged by [`effective_ip`]) is in one of the enclave's networks.
    pub fn is_inside(&self, ip: IpAddr) -> bool {
        let ip = effective_ip(ip);
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// Decides a connection from `source_service` to `host` (as the caller asked for it) that
    /// will be dialed at `ip`:`port` (the resolved address; check what you dial). Request rules
    /// (with methods or paths) are not judged here.
    pub fn decide(
        &self,
        source_service: Option<&str>,
        host: &Host,
        ip: IpAddr,
        port: u16,
    ) -> EgressVerdict {
        self.decide_request(source_service, host, ip, port, None)
    }

    /// [`Enclave::decide`] for one request carried to that destination: request rules are
    /// judged too, in their place in the list. `None` judges the connection alone.
    pub fn decide_request(
        &self,
        source_service: Option<&str>,
        host: &Host,
        ip: IpAddr,
        port: u16,
        request: Option<RequestLine<'_>>,
    ) -> EgressVerdict {
        let inside = self.is_inside(ip);
        let verdict = |decision, reason: String, rule, cause| EgressVerdict {
            decision,
            reason,
            inside,
            rule,
            cause,
        };
        if self.is_own_listener(ip, port) {
            let reason = "destination is Sightline's own listener".to_owned();
            return verdict(Decision::Blocked, reason, None, Cause::OwnListener);
        }
        let refusal = self.special_refusal(source_service, ip, port, request);
        let matched = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.matches(source_service, host, ip, port, request));
        match (matched, refusal) {
            (Some((i, rule)), refusal) if rule.action == RuleAction::Deny => {
                let decision = rule.mode.unwrap_or(self.mode).objection();
                match refusal {
                    // A deny that only reports must not soften a refusal that always blocks.
                    Some(r) if r.decision == Decision::Blocked && decision != Decision::Blocked => {
                        verdict(r.decision, r.reason, None, r.cause)
                    }
                    _ => verdict(
                        decision,
                        format!("denied by egress rule {i}"),
                        Some(i),
                        Cause::Rule,
                    ),
                }
            }
            (_, Some(r)) => verdict(r.decision, r.reason, None, r.cause),
            (Some((i, rule)), None) => match rule.mode {
                Some(Mode::Report) => verdict(
                    Decision::Reported,
                    format!("allowed by egress rule {i} in report mode"),
                    Some(i),
                    Cause::Rule,
                ),
                _ => verdict(
                    Decision::Allowed,
                    format!("allowed by egress rule {i}"),
                    Some(i),
                    Cause::Rule,
                ),
            },
            (None, None) if inside => verdict(
                Decision::Allowed,
                "internal call inside the enclave".to_owned(),
                None,
                Cause::Inside,
            ),
            (None, None) => verdict(
                self.mode.objection(),
                "destination outside the enclave".to_owned(),
                None,
                Cause::Outside,
            ),
        }
    }

    /// Whether dialing `ip`:`port` would reach one of Sightline's own listeners. A listener on
    /// a wildcard address answers on loopback and on the wildcard address itself, and
    /// connecting to a wildcard address reaches loopback listeners.
    fn is_own_listener(&self, ip: IpAddr, port: u16) -> bool {
        let ip = effective_ip(ip);
        let local = ip.is_loopback() || ip.is_unspecified();
        self.own_addrs.iter().any(|own| {
            let own_ip = effective_ip(own.ip());
            own.port() == port
                && (own_ip == ip
                    || (own_ip.is_unspecified() && local)
                    || (own_ip.is_loopback() && ip.is_unspecified()))
        })
    }

    /// The refusal for a metadata endpoint or special-purpose address that nothing names.
    fn special_refusal(
        &self,
        source: Option<&str>,
        ip: IpAddr,
        port: u16,
        request: Option<RequestLine<'_>>,
    ) -> Option<Refusal> {
        let eff = effective_ip(ip);
        let carried = if eff == ip {
            String::new()
        } else {
            format!(" (carried in {ip})")
        };
        // Before the classes: some endpoints sit in public or report-only ranges.
        if let Some(endpoint) = metadata_endpoint(ip) {
            if self.names_exactly(source, eff, port, request) {
                return None;
            }
            let reason = format!(
                "cloud metadata address {eff}{carried} ({}) is opened only by an allow rule \
                 whose CIDR is exactly that address",
                endpoint.service
            );
            return Some(Refusal {
                decision: Decision::Blocked,
                reason,
                cause: Cause::Metadata,
            });
        }
        let class = classify(ip);
        if !class.is_special() {
            return None;
        }
        // No range would be a bug in the table; refuse rather than open.
        if special_range(ip).is_some_and(|range| self.names(source, eff, port, range, request)) {
            return None;
        }
        let decision = match class {
            AddressClass::Loopback | AddressClass::Unspecified | AddressClass::LinkLocal => {
                Decision::Blocked
            }
            _ => self.mode.objection(),
        };
        let reason = format!(
            "{class} address {eff}{carried} is not named by an enclave network or allow rule CIDR"
        );
        Some(Refusal {
            decision,
            reason,
            cause: Cause::SpecialAddress,
        })
    }

    /// Whether the CIDR of an allow rule that fits this source and port is exactly `eff` (a
    /// `/32` or `/128`): the only way to open a metadata endpoint.
    fn names_exactly(
        &self,
        source: Option<&str>,
        eff: IpAddr,
        port: u16,
        request: Option<RequestLine<'_>>,
    ) -> bool {
        self.rules.iter().any(|rule| {
            rule.action == RuleAction::Allow
                && rule.admits(source, port, request)
                && rule
                    .cidrs
                    .iter()
                    .any(|net| net.prefix_len() == net.max_prefix_len() && net.addr() == eff)
        })
    }

    /// Whether an enclave network, or the CIDR of an allow rule that fits this source and port,
    /// contains `eff` and is at least as specific as the special `range` around it.
    fn names(
        &self,
        source: Option<&str>,
        eff: IpAddr,
        port: u16,
        range: IpNet,
        request: Option<RequestLine<'_>>,
    ) -> bool {
        let specific = |net: &IpNet| net.prefix_len() >= range.prefix_len();
        let by_network = self
            .networks
            .iter()
            .any(|n| n.contains(eff) && specific(&n.net));
        let by_rule = self.rules.iter().any(|rule| {
            rule.action == RuleAction::Allow
                && rule.admits(source, port, request)
                && rule
                    .cidrs
                    .iter()
                    .any(|net| net.contains(&eff) && specific(net))
        });
        by_network || by_rule
    }
}

/// Why a special destination is refused.
struct Refusal {
    decision: Decision,
    reason: String,
    cause: Cause,
}

#[cfg(test)]
mod tests;
