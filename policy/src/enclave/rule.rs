//! Egress rules: which source may call which destinations, on which ports, in which mode.

use crate::address::effective_ip;
use crate::decision::Decision;
use crate::host::{Host, HostPattern};
use crate::request::{PathPattern, RequestLine};
use ipnet::IpNet;
use std::net::IpAddr;

/// Whether objections block calls or only report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Objections block the call.
    #[default]
    Enforce,
    /// Objections let the call through and report it: an alert, not a block.
    Report,
}

impl Mode {
    /// The lowercase name used in configuration and records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }

    /// What an objection becomes in this mode.
    pub const fn objection(self) -> Decision {
        match self {
            Mode::Enforce => Decision::Blocked,
            Mode::Report => Decision::Reported,
        }
    }
}

/// What a matching rule does with the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// Let the call through (special addresses still need to be named by a CIDR).
    Allow,
    /// Refuse the call (or report it, in report mode).
    Deny,
}

impl RuleAction {
    /// The lowercase name used in configuration and reasons.
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleAction::Allow => "allow",
            RuleAction::Deny => "deny",
        }
    }
}

/// One egress rule. A rule matches a call when its service, ports and destinations all do;
/// the first matching rule decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressRule {
    /// The source service this rule is about; `None` for any source, known or not.
    pub service: Option<String>,
    /// Host names the rule covers, matched against the host as asked.
    pub hosts: Vec<HostPattern>,
    /// Networks the rule covers, matched against the address that will be dialed.
    pub cidrs: Vec<IpNet>,
    /// Destination ports; empty for any port.
    pub ports: Vec<u16>,
    /// Request methods; empty for any. With `paths`, makes this a request rule.
    pub methods: Vec<String>,
    /// Request path patterns; empty for any. With `methods`, makes this a request rule.
    pub paths: Vec<PathPattern>,
    /// Allow or deny.
    pub action: RuleAction,
    /// Overrides the enclave's mode for this rule.
    pub mode: Option<Mode>,
}

impl EgressRule {
    /// Whether this rule covers a call from `source` to `host` (as asked) dialed at `ip`:`port`,
    /// carrying `request` (`None` for a connection: a CONNECT tunnel before any request).
    /// Hosts OR CIDRs must cover the destination; a rule with neither covers every destination.
    /// CIDRs are matched against [`effective_ip`] of `ip`. A request rule never covers a
    /// connection.
    pub fn matches(
        &self,
        source: Option<&str>,
        host: &Host,
        ip: IpAddr,
        port: u16,
        request: Option<RequestLine<'_>>,
    ) -> bool {
        if !self.admits(source, port, request) {
            return false;
        }
        if self.hosts.is_empty() && self.cidrs.is_empty() {
            return true;
        }
        let ip = effective_ip(ip);
        self.hosts.iter().any(|p| p.matches(host)) || self.cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Whether the source, port and request fit, whatever the destination.
    pub(crate) fn admits(
        &self,
        source: Option<&str>,
        port: u16,
        request: Option<RequestLine<'_>>,
    ) -> bool {
        let service_fits = match &self.service {
            None => true,
            Some(service) => source == Some(service.as_str()),
        };
        service_fits
            && (self.ports.is_empty() || self.ports.contains(&port))
            && self.fits_request(request)
    }

    /// Whether this rule is judged on requests only (it names methods or paths).
    pub fn is_request_rule(&self) -> bool {
        !self.methods.is_empty() || !self.paths.is_empty()
    }

    fn fits_request(&self, request: Option<RequestLine<'_>>) -> bool {
        if !self.is_request_rule() {
            return true;
        }
        let Some(req) = request else { return false };
        (self.methods.is_empty() || self.methods.iter().any(|m| m == req.method))
            && (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(req.path)))
    }
}
