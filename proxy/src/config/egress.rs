//! The `egress:` section: the forward-proxy listener, who its callers are (source networks,
//! credentials, client-certificate identities) and which destinations' TLS is inspected.

use super::context::{valid_name, Convert, SecretFrom, NAME_RULE};
use super::file::{CredentialFile, EgressFile, InspectFile};
use super::{tls, InboundTls};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The egress listener: services send their outbound calls through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressConfig {
    /// Where to listen (default 127.0.0.1:3128).
    pub listen: SocketAddr,
    /// Source networks and the service each one is.
    pub sources: Vec<(ipnet::IpNet, String)>,
    /// `Proxy-Authorization: Basic service:token` credentials, by service.
    pub credentials: BTreeMap<String, String>,
    /// Time to connect to a destination.
    pub connect_timeout: Duration,
    /// A tunnel or connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Maximum concurrent connections on the egress listener.
    pub max_connections: usize,
    /// TLS on the egress listener; with `client_ca`, a client certificate identifies the caller.
    pub tls: Option<InboundTls>,
    /// Client-certificate identities (URI or DNS SAN) and the service each one is.
    pub identities: BTreeMap<String, String>,
    /// TLS inspection of listed destinations.
    pub inspect: Option<InspectConfig>,
    /// Peers that must open each connection with a PROXY protocol header naming the caller
    /// (`egress.proxy_protocol.from`); empty when off.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
    /// The transparent listener (`egress.transparent.listen`): connections redirected to it by
    /// nftables or iptables (REDIRECT), judged on their original destination.
    pub transparent: Option<SocketAddr>,
}

/// TLS inspection: CONNECT tunnels to these hosts are terminated and their requests recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectConfig {
    /// The CA certificate that signs the leaves clients see.
    pub ca_cert: PathBuf,
    /// Its private key (readable by its owner only).
    pub ca_key: PathBuf,
    /// Destinations inspected, matched against the CONNECT host.
    pub hosts: Vec<sightline_policy::HostPattern>,
    /// CA(s) trusted for destinations' certificates; `None` for the system's roots.
    pub upstream_ca: Option<PathBuf>,
}

/// Default `egress.max_connections`.
pub const EGRESS_MAX_CONNECTIONS: usize = 10_000;

/// Default egress listen address.
pub const DEFAULT_EGRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 3128);

/// Checks the section; `None` when egress is off.
pub(super) fn convert(raw: Option<EgressFile>, cx: &mut Convert<'_>) -> Option<EgressConfig> {
    let mut e = raw?;
    let tls = e.tls.take().map(|t| tls::convert(t, "egress.tls", cx));
    for (key, d) in [
        ("egress.connect_timeout", e.connect_timeout),
        ("egress.idle_timeout", e.idle_timeout),
    ] {
        if d.is_some_and(|d| d.0.is_zero()) {
            cx.issue(key, "must be greater than zero");
        }
    }
    if e.max_connections == Some(0) {
        cx.issue("egress.max_connections", "must be greater than zero");
    }
    check_names(&e, cx);
    let credentials = credentials(e.credentials, cx);
    let inspect = e.inspect.map(|i| inspect(i, cx));
    if e.proxy_protocol.as_ref().is_some_and(|p| p.from.is_empty()) {
        cx.issue(
            "egress.proxy_protocol.from",
            "name the networks of the load balancers that send the header",
        );
    }
    let listen = e.listen.unwrap_or(DEFAULT_EGRESS);
    let transparent = e.transparent.map(|t| t.listen);
    if transparent.is_some_and(|t| t == listen && t.port() != 0) {
        cx.issue(
            "egress.transparent.listen",
            "must differ from egress.listen: redirected connections carry no proxy request",
        );
    }
    Some(EgressConfig {
        inspect,
        transparent,
        proxy_protocol_from: e
            .proxy_protocol
            .map(|p| p.from.into_iter().map(|n| n.trunc()).collect())
            .unwrap_or_default(),
        listen,
        sources: e
            .sources
            .into_iter()
            .map(|s| (s.cidr.trunc(), s.service))
            .collect(),
        credentials,
        connect_timeout: e.connect_timeout.map_or(Duration::from_secs(5), |d| d.0),
        idle_timeout: e.idle_timeout.map_or(Duration::from_secs(300), |d| d.0),
        max_connections: e.max_connections.unwrap_or(EGRESS_MAX_CONNECTIONS),
        tls,
        identities: e
            .identities
            .into_iter()
            .map(|i| (i.identity, i.service))
            .collect(),
    })
}

/// The service names of sources, credentials and identities; one credential per service, one
/// service per identity.
fn check_names(e: &EgressFile, cx: &mut Convert<'_>) {
    for (i, s) in e.sources.iter().enumerate() {
        if !valid_name(&s.service) {
            cx.issue(&format!("egress.sources[{i}].service"), NAME_RULE);
        }
    }
    let mut seen = BTreeSet::new();
    for (i, c) in e.credentials.iter().enumerate() {
        if !valid_name(&c.service) {
            cx.issue(&format!("egress.credentials[{i}].service"), NAME_RULE);
        }
        if !seen.insert(c.service.clone()) {
            cx.issue(
                &format!("egress.credentials[{i}].service"),
                format!("{} has credentials already", c.service),
            );
        }
    }
    let mut ids = BTreeSet::new();
    for (i, id) in e.identities.iter().enumerate() {
        if !valid_name(&id.service) {
            cx.issue(&format!("egress.identities[{i}].service"), NAME_RULE);
        }
        if !ids.insert(id.identity.clone()) {
            cx.issue(&format!("egress.identities[{i}].identity"), "listed twice");
        }
    }
}

/// Each credential's token, by service.
fn credentials(raw: Vec<CredentialFile>, cx: &mut Convert<'_>) -> BTreeMap<String, String> {
    let mut credentials = BTreeMap::new();
    for (i, c) in raw.into_iter().enumerate() {
        let key = format!("egress.credentials[{i}].token");
        let from = SecretFrom {
            inline: c.token,
            file: c.token_file,
            env: c.token_env,
        };
        let Some(token) = cx.secret(from, &key) else {
            cx.issue(&key, "set token, token_file or token_env");
            continue;
        };
        if token.len() < 16 {
            cx.issue(&key, "use a token of at least 16 characters");
        }
        credentials.insert(c.service, token);
    }
    credentials
}

/// Checks `egress.inspect`.
fn inspect(i: InspectFile, cx: &mut Convert<'_>) -> InspectConfig {
    let mut hosts = Vec::new();
    for (j, h) in i.hosts.iter().enumerate() {
        match h.parse::<sightline_policy::HostPattern>() {
            Ok(p) => hosts.push(p),
            Err(err) => cx.issue(
                &format!("egress.inspect.hosts[{j}]"),
                format!("invalid host pattern {h:?}: {err}"),
            ),
        }
    }
    InspectConfig {
        ca_cert: cx.resolve(i.ca.cert),
        ca_key: cx.resolve(i.ca.key),
        hosts,
        upstream_ca: i.upstream_ca.map(|p| cx.resolve(p)),
    }
}
