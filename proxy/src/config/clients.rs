//! The `clients:` section: who a client is, rate limits, connection and concurrency caps,
//! failed-login and scanning bans, deny and allow lists, and whether each protection enforces
//! or only reports. Read as file structs (values that can be checked alone carry their line),
//! then converted and cross-checked into [`ClientsConfig`].

use super::file::ModeFile;
use super::values::Dur;
use super::Checker;
use http::{HeaderName, Method};
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer};
use sightline_policy::clients::{Escalation, Rate};
use sightline_policy::Mode;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The `clients:` section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of client protections")]
pub(crate) struct ClientsFile {
    pub api_key_header: Option<String>,
    #[serde(default)]
    pub api_keys: ApiKeysFile,
    pub forwarded_header: Option<String>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<IpNet>,
    pub ipv6_prefix: Option<u8>,
    #[serde(default)]
    pub named: Vec<NamedFile>,
    pub max_clients: Option<usize>,
    #[serde(default)]
    pub rate: RateFile,
    pub connections: Option<ConnectionsFile>,
    pub concurrency: Option<ConcurrencyFile>,
    #[serde(default)]
    pub logins: Vec<LoginFile>,
    #[serde(default)]
    pub bans: BansFile,
    pub scanning: Option<ScanningFile>,
    #[serde(default)]
    pub stuffing: StuffingFile,
    #[serde(default)]
    pub uncommon: UncommonFile,
    #[serde(default)]
    pub floods: FloodsFile,
    #[serde(default)]
    pub deny_lists: Vec<PathBuf>,
    #[serde(default)]
    pub allow_lists: Vec<PathBuf>,
    #[serde(default)]
    pub modes: ModesFile,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { hashes: keys.sha256, per_address: 10, within: 10m }"
)]
pub(crate) struct ApiKeysFile {
    pub hashes: Option<PathBuf>,
    pub per_address: Option<usize>,
    pub within: Option<Dur>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a named network such as { cidr: 10.1.0.0/16, name: partner-acme }"
)]
pub(crate) struct NamedFile {
    #[schemars(with = "String")]
    pub cidr: IpNet,
    pub name: String,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of rate limits")]
pub(crate) struct RateFile {
    pub per_client: Option<RateText>,
    pub burst: Option<u32>,
    pub global: Option<RateText>,
    pub global_burst: Option<u32>,
    #[serde(default)]
    pub routes: Vec<RouteRateFile>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a route limit such as { route: \"POST /login\", rate: 5/m, burst: 5 }"
)]
pub(crate) struct RouteRateFile {
    pub route: RouteSpec,
    pub rate: RateText,
    pub burst: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with per_ip")]
pub(crate) struct ConnectionsFile {
    pub per_ip: usize,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with max and anonymous_share"
)]
pub(crate) struct ConcurrencyFile {
    pub max: usize,
    pub anonymous_share: Option<f64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a login route such as { route: \"POST /login\", failures: 5, within: 1m, ban: 10m }"
)]
pub(crate) struct LoginFile {
    pub route: RouteSpec,
    pub failures: Option<u32>,
    pub within: Option<Dur>,
    #[serde(default)]
    pub statuses: Vec<u16>,
    pub ban: Option<Dur>,
    pub escalation: Option<u32>,
    pub max_ban: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of ban settings")]
pub(crate) struct BansFile {
    pub action: Option<BanActionFile>,
    pub forget: Option<Dur>,
    pub max_bans: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BanActionFile {
    Forbid,
    Close,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { distinct_paths: 20, within: 1m, ban: 10m }"
)]
pub(crate) struct ScanningFile {
    pub distinct_paths: Option<u32>,
    pub within: Option<Dur>,
    pub ban: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with clients and within")]
pub(crate) struct StuffingFile {
    pub clients: Option<u32>,
    pub within: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of uncommon-usage settings"
)]
pub(crate) struct UncommonFile {
    pub known_after: Option<u64>,
    pub surge_clients: Option<u32>,
    pub rare_per_hour: Option<u32>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of flood settings")]
pub(crate) struct FloodsFile {
    pub factor: Option<f64>,
    pub min_per_minute: Option<u64>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of protection: enforce | report"
)]
pub(crate) struct ModesFile {
    pub rate: Option<ModeFile>,
    pub connections: Option<ModeFile>,
    pub concurrency: Option<ModeFile>,
    pub logins: Option<ModeFile>,
    pub scanning: Option<ModeFile>,
    pub lists: Option<ModeFile>,
}

/// A rate written `100/s`, checked while the file is read.
#[derive(Debug, Clone)]
pub(crate) struct RateText(pub String);

impl<'de> Deserialize<'de> for RateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rate::parse(&s, None).map_err(de::Error::custom)?;
        Ok(RateText(s))
    }
}

super::values::text_schema!(
    RateText,
    "Rate",
    "A rate: a count per second, minute or hour, such as 100/s, 5/m or 1000/h."
);
super::values::text_schema!(
    RouteSpec,
    "RouteSpec",
    "A route: an optional method and a path, such as \"POST /login\" or /api/search."
);

impl RateText {
    fn with_burst(&self, burst: Option<u32>) -> Option<Rate> {
        Rate::parse(&self.0, burst).ok()
    }
}

/// A route as protections name it: an optional method and a path, matched like route prefixes
/// (whole segments): `POST /login`, `/api/search`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Only this method, when given.
    pub method: Option<Method>,
    /// The path or whole-segment path prefix.
    pub path: String,
}

impl RouteSpec {
    /// Parses `POST /login` or `/login`.
    pub fn parse(s: &str) -> Option<RouteSpec> {
        let s = s.trim();
        let (method, path) = match s.split_once(char::is_whitespace) {
            Some((m, p)) => (Some(Method::from_bytes(m.as_bytes()).ok()?), p.trim()),
            None => (None, s),
        };
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return None;
        }
        Some(RouteSpec {
            method,
            path: path.to_owned(),
        })
    }

    /// Whether a request (normalised path) falls under this route.
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let p = self.path.trim_end_matches('/');
        p.is_empty()
            || path == p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// `POST /login` or `/login`.
    pub fn label(&self) -> String {
        match &self.method {
            Some(m) => format!("{m} {}", self.path),
            None => self.path.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for RouteSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RouteSpec::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid route {s:?}; write a path such as /login, optionally after a method: \"POST /login\""
            ))
        })
    }
}

/// API keys: which are verified, and how many unverified ones an address may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeys {
    /// The hashes file, when keys are verified.
    pub hashes_file: Option<PathBuf>,
    /// SHA-256 digests of the valid keys (from `hashes_file`); a key found here is a verified
    /// identity, any other key is only claimed.
    pub verified: Arc<std::collections::HashSet<[u8; 32]>>,
    /// Distinct unverified keys one (grouped) address may use within `within`; calls with
    /// further keys are identified by the address alone.
    pub per_address: usize,
    /// The window of `per_address`.
    pub within: Duration,
}

impl Default for ApiKeys {
    fn default() -> Self {
        ApiKeys {
            hashes_file: None,
            verified: Arc::default(),
            per_address: 10,
            within: Duration::from_secs(600),
        }
    }
}

/// Reads a hashes file: one SHA-256 digest of a key per line, in hex (what `sha256sum` prints
/// for the key; text after the digest is ignored), `#` starts a comment.
pub fn read_key_hashes(
    path: &std::path::Path,
) -> Result<std::collections::HashSet<[u8; 32]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(digest) = line.split_whitespace().next() else {
            continue;
        };
        let bytes = digest.as_bytes();
        let mut d = [0u8; 32];
        let ok = bytes.len() == 64
            && bytes.iter().all(u8::is_ascii_hexdigit)
            && d.iter_mut().enumerate().all(|(i, b)| {
                match std::str::from_utf8(&bytes[2 * i..2 * i + 2])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        *b = v;
                        true
                    }
                    None => false,
                }
            });
        if !ok {
            return Err(format!(
                "{}:{}: not a SHA-256 digest in hex (64 characters)",
                path.display(),
                n + 1
            ));
        }
        out.insert(d);
    }
    Ok(out)
}

/// What a banned client gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BanAction {
    /// 403 with a JSON reason.
    #[default]
    Forbid,
    /// The connection is closed without an answer.
    Close,
}

/// One route's limit per client.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteLimit {
    /// The route.
    pub route: RouteSpec,
    /// Its rate per client.
    pub rate: Rate,
}

/// A login route and when its failures ban.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginRule {
    /// The route.
    pub route: RouteSpec,
    /// Failures that ban.
    pub failures: u32,
    /// Within this window.
    pub within: Duration,
    /// Statuses that count as a failure.
    pub statuses: Vec<u16>,
    /// Ban lengths.
    pub escalation: Escalation,
}

/// Scanning: many distinct missing paths from one client.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanRule {
    /// Distinct 404/405 paths that make a scan.
    pub distinct_paths: u32,
    /// Within this window.
    pub within: Duration,
    /// Ban lengths, when a scan bans.
    pub ban: Option<Escalation>,
}

/// The global concurrency limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concurrency {
    /// Requests in flight at most.
    pub max: usize,
    /// Share of `max` anonymous clients may fill; the rest is kept for known clients.
    pub anonymous_share: f64,
}

/// Report-only detectors' thresholds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watch {
    /// Credential stuffing: failures from this many distinct clients on one login route…
    pub stuffing_clients: u32,
    /// …within this window.
    pub stuffing_within: Duration,
    /// A known client's endpoints are learned over its first this many calls.
    pub known_after: u64,
    /// A rare endpoint called by this many clients in a minute is a surge.
    pub surge_clients: u32,
    /// An endpoint with at most this many calls per hour (on average) is rare.
    pub rare_per_hour: u32,
    /// A minute with this many times the usual traffic is a flood…
    pub flood_factor: f64,
    /// …when it has at least this many calls.
    pub flood_min_per_minute: u64,
}

/// Enforce or report, per protection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// Rate limits.
    pub rate: Mode,
    /// Per-address connection caps.
    pub connections: Mode,
    /// The concurrency limit.
    pub concurrency: Mode,
    /// Failed-login bans.
    pub logins: Mode,
    /// Scanning bans.
    pub scanning: Mode,
    /// Deny lists.
    pub lists: Mode,
}

/// The checked `clients:` section. The default protects nothing and costs nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientsConfig {
    /// Whether the section was given at all.
    pub enabled: bool,
    /// Header carrying an API key (only its hash is kept).
    pub api_key_header: Option<HeaderName>,
    /// Verified keys and the per-address cap on unverified ones.
    pub api_keys: ApiKeys,
    /// Header naming the client behind a trusted proxy.
    pub forwarded_header: HeaderName,
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// IPv6 clients are grouped by this prefix length.
    pub ipv6_prefix: u8,
    /// Named client networks, most specific first.
    pub named: Vec<(IpNet, Arc<str>)>,
    /// Cap on every client-keyed table.
    pub max_clients: usize,
    /// Rate per client.
    pub per_client: Option<Rate>,
    /// Rate over all clients.
    pub global: Option<Rate>,
    /// Rates per client on given routes.
    pub routes: Vec<RouteLimit>,
    /// Open connections per (grouped) address.
    pub per_ip_connections: Option<usize>,
    /// Requests in flight.
    pub concurrency: Option<Concurrency>,
    /// Login routes.
    pub logins: Vec<LoginRule>,
    /// What a banned client gets.
    pub ban_action: BanAction,
    /// Bans kept (current and remembered strikes).
    pub max_bans: usize,
    /// Scanning detection.
    pub scanning: Option<ScanRule>,
    /// Report-only detectors.
    pub watch: Watch,
    /// Deny-list files.
    pub deny_lists: Vec<PathBuf>,
    /// Allow-list files (exempt from every protection).
    pub allow_lists: Vec<PathBuf>,
    /// Enforce or report per protection.
    pub modes: Modes,
}

impl Default for ClientsConfig {
    fn default() -> Self {
        ClientsConfig {
            enabled: false,
            api_key_header: None,
            api_keys: ApiKeys::default(),
            forwarded_header: HeaderName::from_static("x-forwarded-for"),
            trusted_proxies: Vec::new(),
            ipv6_prefix: 64,
            named: Vec::new(),
            max_clients: 100_000,
            per_client: None,
            global: None,
            routes: Vec::new(),
            per_ip_connections: None,
            concurrency: None,
            logins: Vec::new(),
            ban_action: BanAction::Forbid,
            max_bans: 100_000,
            scanning: None,
            watch: Watch {
                stuffing_clients: 10,
                stuffing_within: Duration::from_secs(300),
                known_after: 100,
                surge_clients: 10,
                rare_per_hour: 5,
                flood_factor: 10.0,
                flood_min_per_minute: 600,
            },
            deny_lists: Vec::new(),
            allow_lists: Vec::new(),
            modes: Modes::default(),
        }
    }
}

impl ClientsConfig {
    /// Whether `peer` is a trusted proxy (an IPv4-mapped IPv6 peer is judged as IPv4).
    pub fn trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        let peer = sightline_policy::canonical(peer);
        self.trusted_proxies.iter().any(|n| n.contains(&peer))
    }
}

/// A network as peers are compared with it: host bits cleared, and an IPv4-mapped IPv6 network
/// (`::ffff:10.0.0.0/104`) written as the IPv4 network it covers (`10.0.0.0/8`), since peers
/// arrive as IPv4.
fn canonical_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

fn mode(m: Option<ModeFile>) -> Mode {
    match m {
        Some(ModeFile::Report) => Mode::Report,
        _ => Mode::Enforce,
    }
}

/// Checks and converts the section; `resolve` makes list paths absolute.
pub(super) fn convert(
    raw: Option<ClientsFile>,
    resolve: impl Fn(PathBuf) -> PathBuf,
    check: &mut Checker<'_>,
) -> ClientsConfig {
    let Some(raw) = raw else {
        return ClientsConfig::default();
    };
    let d = ClientsConfig::default();
    let header = |check: &mut Checker<'_>, key: &str, v: Option<String>| {
        let v = v?;
        match HeaderName::from_bytes(v.trim().as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                check.issue(key, format!("{v:?} is not a header name"));
                None
            }
        }
    };
    let api_key_header = header(check, "clients.api_key_header", raw.api_key_header);
    let mut api_keys = ApiKeys {
        per_address: raw.api_keys.per_address.unwrap_or(d.api_keys.per_address),
        within: raw.api_keys.within.map_or(d.api_keys.within, |w| w.0),
        ..ApiKeys::default()
    };
    if api_keys.per_address == 0 {
        check.issue("clients.api_keys.per_address", "must be at least 1");
    }
    if let Some(file) = raw.api_keys.hashes.map(&resolve) {
        if api_key_header.is_none() {
            check.issue(
                "clients.api_keys.hashes",
                "needs clients.api_key_header to name the header carrying the key",
            );
        }
        match read_key_hashes(&file) {
            Ok(set) => api_keys.verified = Arc::new(set),
            Err(e) => check.issue("clients.api_keys.hashes", e),
        }
        api_keys.hashes_file = Some(file);
    }
    let forwarded_header = header(check, "clients.forwarded_header", raw.forwarded_header)
        .unwrap_or(d.forwarded_header.clone());
    let ipv6_prefix = raw.ipv6_prefix.unwrap_or(64);
    if !(16..=128).contains(&ipv6_prefix) {
        check.issue("clients.ipv6_prefix", "a prefix length from 16 to 128");
    }
    let mut named = Vec::new();
    for (i, n) in raw.named.into_iter().enumerate() {
        if !super::valid_name(&n.name) {
            check.issue(&format!("clients.named[{i}].name"), super::NAME_RULE);
        }
        named.push((canonical_net(n.cidr), Arc::<str>::from(n.name)));
    }
    named.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
    let max_clients = raw.max_clients.unwrap_or(d.max_clients);
    if max_clients == 0 {
        check.issue("clients.max_clients", "must be at least 1");
    }
    let per_client = raw
        .rate
        .per_client
        .as_ref()
        .and_then(|r| r.with_burst(raw.rate.burst));
    if raw.rate.burst == Some(0) {
        check.issue("clients.rate.burst", "must be at least 1");
    }
    let global = raw
        .rate
        .global
        .as_ref()
        .and_then(|r| r.with_burst(raw.rate.global_burst));
    if raw.rate.global_burst == Some(0) {
        check.issue("clients.rate.global_burst", "must be at least 1");
    }
    let mut routes = Vec::new();
    for (i, r) in raw.rate.routes.into_iter().enumerate() {
        match r.rate.with_burst(r.burst) {
            Some(rate) => routes.push(RouteLimit {
                route: r.route,
                rate,
            }),
            None => check.issue(
                &format!("clients.rate.routes[{i}].burst"),
                "must be at least 1",
            ),
        }
    }
    let per_ip_connections = raw.connections.map(|c| c.per_ip);
    if per_ip_connections == Some(0) {
        check.issue("clients.connections.per_ip", "must be at least 1");
    }
    let concurrency = raw.concurrency.map(|c| Concurrency {
        max: c.max,
        anonymous_share: c.anonymous_share.unwrap_or(0.8),
    });
    if let Some(c) = concurrency {
        if c.max == 0 {
            check.issue("clients.concurrency.max", "must be at least 1");
        }
        if !(c.anonymous_share > 0.0 && c.anonymous_share <= 1.0) {
            check.issue(
                "clients.concurrency.anonymous_share",
                "a share above 0 and at most 1",
            );
        }
    }
    let forget = raw.bans.forget.map_or(Duration::from_secs(86_400), |d| d.0);
    let mut logins = Vec::new();
    for (i, l) in raw.logins.into_iter().enumerate() {
        let key = format!("clients.logins[{i}]");
        let failures = l.failures.unwrap_or(5);
        if failures == 0 {
            check.issue(&format!("{key}.failures"), "must be at least 1");
        }
        let base = l.ban.map_or(Duration::from_secs(600), |d| d.0);
        let max = l.max_ban.map_or(Duration::from_secs(86_400), |d| d.0);
        if max < base {
            check.issue(&format!("{key}.max_ban"), "must be at least the ban");
        }
        let statuses = if l.statuses.is_empty() {
            vec![401, 403]
        } else {
            l.statuses
        };
        if statuses.iter().any(|s| !(100..=599).contains(s)) {
            check.issue(&format!("{key}.statuses"), "HTTP statuses from 100 to 599");
        }
        logins.push(LoginRule {
            route: l.route,
            failures,
            within: l.within.map_or(Duration::from_secs(60), |d| d.0),
            statuses,
            escalation: Escalation {
                base,
                factor: l.escalation.unwrap_or(2).max(1),
                max,
                forget,
            },
        });
    }
    let scanning = raw.scanning.map(|s| ScanRule {
        distinct_paths: s.distinct_paths.unwrap_or(20).max(2),
        within: s.within.map_or(Duration::from_secs(60), |d| d.0),
        ban: s.ban.map(|b| Escalation {
            base: b.0,
            factor: 2,
            max: Duration::from_secs(86_400).max(b.0),
            forget,
        }),
    });
    let dw = d.watch;
    let watch = Watch {
        stuffing_clients: raw.stuffing.clients.unwrap_or(dw.stuffing_clients).max(2),
        stuffing_within: raw.stuffing.within.map_or(dw.stuffing_within, |d| d.0),
        known_after: raw.uncommon.known_after.unwrap_or(dw.known_after),
        surge_clients: raw
            .uncommon
            .surge_clients
            .unwrap_or(dw.surge_clients)
            .max(2),
        rare_per_hour: raw.uncommon.rare_per_hour.unwrap_or(dw.rare_per_hour),
        flood_factor: raw.floods.factor.unwrap_or(dw.flood_factor),
        flood_min_per_minute: raw.floods.min_per_minute.unwrap_or(dw.flood_min_per_minute),
    };
    if !(watch.flood_factor > 1.0 && watch.flood_factor.is_finite()) {
        check.issue("clients.floods.factor", "a factor above 1");
    }
    let m = raw.modes;
    ClientsConfig {
        enabled: true,
        api_key_header,
        api_keys,
        forwarded_header,
        trusted_proxies: raw.trusted_proxies.into_iter().map(canonical_net).collect(),
        ipv6_prefix,
        named,
        max_clients: max_clients.max(1),
        per_client,
        global,
        routes,
        per_ip_connections,
        concurrency,
        logins,
        ban_action: match raw.bans.action {
            Some(BanActionFile::Close) => BanAction::Close,
            _ => BanAction::Forbid,
        },
        max_bans: raw.bans.max_bans.unwrap_or(d.max_bans).max(1),
        scanning,
        watch,
        deny_lists: raw.deny_lists.into_iter().map(&resolve).collect(),
        allow_lists: raw.allow_lists.into_iter().map(&resolve).collect(),
        modes: Modes {
            rate: mode(m.rate),
            connections: mode(m.connections),
            concurrency: mode(m.concurrency),
            logins: mode(m.logins),
            scanning: mode(m.scanning),
            lists: mode(m.lists),
        },
    }
}

#[cfg(test)]
mod tests;
