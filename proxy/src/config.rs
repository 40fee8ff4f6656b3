//! Sightline's configuration: one versioned YAML file read into serde structs (`file`), then
//! checked and converted into the typed domain config below. Every error names file, line and key.

pub mod alerts;
pub mod clients;
mod error;
mod file;
mod locate;
mod telemetry;
mod values;

pub use telemetry::{
    MetricsConfig, OtlpConfig, OtlpProtocol, Sampler, TelemetryConfig, TracesConfig,
};

pub use error::{ConfigError, ConfigIssue};

use file::{ClientAuthFile, FileConfig, ProtocolFile};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The only config file version this build reads.
pub const VERSION: u32 = 1;

/// A checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Admin listener (health, metrics, API, dashboard).
    pub admin: AdminConfig,
    /// The inbound (reverse proxy) listener and its routes.
    pub inbound: InboundConfig,
    /// Named services and their upstreams.
    pub services: BTreeMap<String, ServiceConfig>,
    /// Timeouts and size limits.
    pub limits: Limits,
    /// Call recording.
    pub recording: RecordingConfig,
    /// The egress (forward proxy) listener, when enabled.
    pub egress: Option<EgressConfig>,
    /// How egress resolves names.
    pub dns: DnsConfig,
    /// Which destinations are inside the enclave and which outbound calls are allowed.
    pub enclave: EnclaveConfig,
    /// Baselines and anomaly detection.
    pub analysis: AnalysisSettings,
    /// The embedded store; `None` keeps everything in memory only.
    pub storage: Option<crate::store::StoreConfig>,
    /// Abusive-client protections (off when the section is absent).
    pub clients: clients::ClientsConfig,
    /// OpenTelemetry export, trace-context formats and metric label caps.
    pub telemetry: TelemetryConfig,
    /// Alert severities, grouping and sinks.
    pub alerts: alerts::AlertsConfig,
    /// Where the config came from, to name file and line in errors found later.
    pub source: ConfigSource,
}

/// Baselines and anomaly detection (changes apply at the next restart).
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisSettings {
    /// The length of a baseline step (default a minute). Shorter steps compress time for demos
    /// and tests: learning and persistence are counted in steps of this length.
    pub step: Duration,
    /// No statistical anomaly before an endpoint has this much history (default 20% of a week).
    pub learning: Duration,
    /// A departure must last this long before it is an anomaly (default 3 minutes).
    pub persistence: Duration,
    /// Minimum traffic (calls per step, a minute by default) for rate, error and latency rules
    /// (default 10).
    pub min_rate: f64,
    /// The time zone of the seasonal profiles, an IANA name (default none: UTC).
    pub timezone: Option<String>,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            step: Duration::from_secs(60),
            learning: Duration::from_secs(2016 * 60),
            persistence: Duration::from_secs(180),
            min_rate: 10.0,
            timezone: None,
        }
    }
}

impl AnalysisSettings {
    /// The detector configuration these settings give (the detector counts steps as minutes).
    pub fn detector(&self) -> crate::analysis::baseline::DetectorConfig {
        let step = self.step.as_millis().max(1);
        let steps = |d: Duration| (d.as_millis() / step).clamp(1, u128::from(u64::MAX)) as u64;
        crate::analysis::baseline::DetectorConfig {
            learning_minutes: steps(self.learning),
            persistence_minutes: steps(self.persistence),
            min_rate: self.min_rate,
            timezone: self.timezone.clone(),
            ..Default::default()
        }
    }
}

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
    /// TLS on the egress listener; with `client_ca`, a client certificate identifies the caller.
    pub tls: Option<InboundTls>,
    /// Client-certificate identities (URI or DNS SAN) and the service each one is.
    pub identities: BTreeMap<String, String>,
}

/// Name resolution for egress.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// DNS servers (`ip:port`); empty means the system's resolver configuration.
    pub servers: Vec<SocketAddr>,
    /// A static table consulted first (tests, air-gapped sites).
    pub hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// Time allowed for one lookup.
    pub timeout: Duration,
}

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

/// Default egress listen address.
pub const DEFAULT_EGRESS: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 3128);

/// The file name and text a config was read from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConfigSource {
    /// The file as given (or a description such as `--to`).
    pub file: String,
    /// Its text.
    pub text: std::sync::Arc<str>,
}

impl ConfigSource {
    /// An issue at the line of `key` (a dotted path such as `inbound.tls.cert`).
    pub fn issue(&self, key: &str, message: impl Into<String>) -> ConfigIssue {
        ConfigIssue {
            file: self.file.clone(),
            line: locate::locate(&self.text, &locate::path(key)),
            column: None,
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// The admin listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminConfig {
    /// Where to listen; loopback unless a token is set.
    pub listen: SocketAddr,
    /// Bearer token required for everything but health checks.
    pub token: Option<String>,
}

/// The inbound listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS termination, when configured.
    pub tls: Option<InboundTls>,
    /// Routes, tried most specific first (exact host before wildcard before any; longer prefix first).
    pub routes: Vec<Route>,
}

/// TLS termination for the inbound listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundTls {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// CA for client certificates; when set, a verified certificate's SAN is the caller identity.
    pub client_ca: Option<PathBuf>,
    /// Refuse callers without a client certificate.
    pub client_auth_required: bool,
}

/// How a route matches the request host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostMatch {
    /// Exactly this host (lowercase, without port).
    Exact(String),
    /// Any host ending in this suffix (stored with its leading dot: `.example.com`).
    Suffix(String),
    /// Any host.
    Any,
}

/// One route: host and path prefix to a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The host to match.
    pub host: HostMatch,
    /// The path prefix; matches whole segments (`/api` matches `/api/x`, not `/apix`).
    pub path_prefix: String,
    /// The service name (a key of `services`).
    pub service: String,
}

/// The protocol spoken to a service's upstreams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 (prior knowledge over plain TCP, ALPN over TLS).
    Http2,
}

/// A named service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `host:port` of each upstream.
    pub upstreams: Vec<String>,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: UpstreamProtocol,
    /// TLS to the upstreams, when configured.
    pub tls: Option<UpstreamTls>,
    /// Passive ejection of failing upstreams.
    pub ejection: Ejection,
    /// An OpenAPI 3 document: its paths are the service's route templates, and calls outside
    /// it are flagged as shadow endpoints.
    pub openapi: Option<PathBuf>,
}

/// TLS to upstreams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTls {
    /// CA to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Name to verify (and send as SNI) instead of the upstream's host.
    pub server_name: Option<String>,
}

/// When to take a failing upstream out of rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ejection {
    /// Consecutive gateway failures (connect errors, timeouts, 502/503/504) before ejection.
    pub consecutive_failures: u32,
    /// How long an ejected upstream stays out.
    pub duration: Duration,
}

/// Timeouts and size limits on the data path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed to receive a request's headers (slowloris defence).
    pub header_read_timeout: Duration,
    /// Maximum total size of request headers; larger gets 431.
    pub max_header_bytes: usize,
    /// Maximum request-target length; longer gets 414.
    pub max_uri_bytes: usize,
    /// Maximum request body; larger gets 413. `None` for no limit.
    pub max_request_body: Option<u64>,
    /// Time from request to the upstream's response headers; longer gets 504.
    pub request_timeout: Duration,
    /// Time to connect to an upstream; longer gets 504.
    pub upstream_connect_timeout: Duration,
    /// A client connection with no request in flight for this long is closed; also the
    /// idle time of pooled upstream connections.
    pub idle_timeout: Duration,
    /// Maximum concurrent client connections on the inbound listener.
    pub max_connections: usize,
    /// On shutdown, time allowed for in-flight requests to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_request_body: None,
            request_timeout: Duration::from_secs(30),
            upstream_connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Call recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Capacity of the queue from the data path to the recorder; overflow is counted.
    pub queue: usize,
    /// How many recent calls the API can show.
    pub recent_calls: usize,
    /// Paths longer than this are cut (the record says so).
    pub max_path_bytes: usize,
    /// Write a JSON access-log line per call through `tracing`.
    pub access_log: bool,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            queue: 65_536,
            recent_calls: 10_000,
            max_path_bytes: 2048,
            access_log: true,
        }
    }
}

/// Default listen addresses.
pub mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};
    /// Admin: loopback only.
    pub const ADMIN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9900);
    /// Inbound.
    pub const INBOUND: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
}

impl Config {
    /// Reads and checks a config file. Relative paths inside it are taken from its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(&name, format!("cannot read: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, &name, base)
    }

    /// Checks config text; `file` names it in errors, `base` resolves relative paths.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let de = serde_norway::Deserializer::from_str(text);
        let raw: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let location = e.inner().location();
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            ConfigError {
                issues: vec![ConfigIssue {
                    file: file.to_owned(),
                    line: location.as_ref().map(|l| l.line()),
                    column: location.as_ref().map(|l| l.column()),
                    message: strip_prefix_path(&strip_location(&e.inner().to_string()), &key),
                    key,
                }],
            }
        })?;
        let mut check = Checker {
            text,
            file,
            issues: Vec::new(),
        };
        let mut config = convert(raw, base, &mut check);
        if check.issues.is_empty() {
            config.source = ConfigSource {
                file: file.to_owned(),
                text: text.into(),
            };
            Ok(config)
        } else {
            check.issues.sort_by_key(|i| i.line);
            Err(ConfigError {
                issues: check.issues,
            })
        }
    }

    /// The addresses this config listens on (the proxy never dials them through egress).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        let mut v = vec![self.inbound.listen, self.admin.listen];
        if let Some(e) = &self.egress {
            v.push(e.listen);
        }
        v
    }

    /// A config with no file: the defaults, one service `upstream` at `to`, every path routed
    /// to it. This is `sightline proxy --to`.
    pub fn quick(listen: SocketAddr, to: &str, admin: SocketAddr) -> Result<Config, ConfigError> {
        let text = format!(
            "version: 1\nadmin: {{ listen: \"{admin}\" }}\ninbound:\n  listen: \"{listen}\"\n  routes: [ {{ path_prefix: /, service: upstream }} ]\nservices:\n  upstream: {{ upstreams: [ {to:?} ] }}\n"
        );
        Config::parse(&text, "--to", Path::new("."))
    }
}

/// serde_norway appends " at line L column C"; the location is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// serde_norway may start a message with part of the key path (`limits: invalid …`); the
/// key is reported separately.
fn strip_prefix_path(msg: &str, key: &str) -> String {
    match msg.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && key.starts_with(head) => rest.to_owned(),
        _ => msg.to_owned(),
    }
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
    issues: Vec<ConfigIssue>,
}

impl Checker<'_> {
    fn issue(&mut self, key: &str, message: impl Into<String>) {
        let source = ConfigSource {
            file: self.file.to_owned(),
            text: self.text.into(),
        };
        self.issues.push(source.issue(key, message));
    }
}

fn convert(mut raw: FileConfig, base: &Path, check: &mut Checker<'_>) -> Config {
    if raw.version != VERSION {
        check.issue(
            "version",
            format!(
                "unsupported version {}; this build reads version {VERSION}",
                raw.version
            ),
        );
    }
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

    let admin = AdminConfig {
        listen: raw.admin.listen.unwrap_or(defaults::ADMIN),
        token: raw.admin.token.filter(|t| !t.is_empty()),
    };
    if !admin.listen.ip().is_loopback() && admin.token.is_none() {
        check.issue(
            "admin.listen",
            "a non-loopback admin listener needs admin.token (the API and dashboard expose every recorded call)",
        );
    }
    if let Some(t) = &admin.token {
        if t.len() < 16 {
            check.issue("admin.token", "use a token of at least 16 characters");
        }
    }

    let mut listener_tls = |t: file::InboundTlsFile, key: &str| {
        if t.client_auth == ClientAuthFile::Required && t.client_ca.is_none() {
            check.issue(
                &format!("{key}.client_auth"),
                format!("`required` needs {key}.client_ca"),
            );
        }
        InboundTls {
            cert: resolve(t.cert),
            key: resolve(t.key),
            client_auth_required: t.client_auth == ClientAuthFile::Required,
            client_ca: t.client_ca.map(resolve),
        }
    };
    let tls = raw
        .inbound
        .tls
        .take()
        .map(|t| listener_tls(t, "inbound.tls"));
    let egress_tls = raw
        .egress
        .as_mut()
        .and_then(|e| e.tls.take())
        .map(|t| listener_tls(t, "egress.tls"));

    let mut routes = Vec::new();
    for (i, r) in raw.inbound.routes.into_iter().enumerate() {
        if !raw.services.contains_key(&r.service) {
            let known: Vec<&str> = raw.services.keys().map(String::as_str).collect();
            check.issue(
                &format!("inbound.routes[{i}].service"),
                format!(
                    "unknown service {:?} (defined: {})",
                    r.service,
                    known.join(", ")
                ),
            );
        }
        let host = match r.host.as_deref().map(str::trim) {
            None | Some("") | Some("*") => HostMatch::Any,
            Some(h) => match parse_host_match(h) {
                Some(m) => m,
                None => {
                    check.issue(
                        &format!("inbound.routes[{i}].host"),
                        format!("invalid host pattern {h:?}"),
                    );
                    HostMatch::Any
                }
            },
        };
        let route = Route {
            host,
            path_prefix: r.path_prefix.0,
            service: r.service,
        };
        if let Some(j) = routes
            .iter()
            .position(|x: &Route| x.host == route.host && x.path_prefix == route.path_prefix)
        {
            check.issue(
                &format!("inbound.routes[{i}]"),
                format!("duplicates inbound.routes[{j}] (same host and path_prefix)"),
            );
        }
        routes.push(route);
    }

    let mut services = BTreeMap::new();
    for (name, s) in raw.services {
        let key = format!("services.{name}");
        if !valid_name(&name) {
            check.issue(&key, NAME_RULE);
        }
        if s.upstreams.is_empty() {
            check.issue(
                &format!("{key}.upstreams"),
                "at least one upstream is required",
            );
        }
        let ej = s.ejection.as_ref();
        let ejection = Ejection {
            consecutive_failures: ej.and_then(|e| e.consecutive_failures).unwrap_or(5),
            duration: ej
                .and_then(|e| e.duration)
                .map_or(Duration::from_secs(30), |d| d.0),
        };
        if ejection.consecutive_failures == 0 {
            check.issue(
                &format!("{key}.ejection.consecutive_failures"),
                "must be at least 1",
            );
        }
        services.insert(
            name,
            ServiceConfig {
                upstreams: s.upstreams.into_iter().map(|a| a.0).collect(),
                protocol: match s.protocol {
                    ProtocolFile::Http1 => UpstreamProtocol::Http1,
                    ProtocolFile::Http2 => UpstreamProtocol::Http2,
                },
                tls: s.tls.map(|t| UpstreamTls {
                    ca: t.ca.map(resolve),
                    server_name: t.server_name,
                }),
                ejection,
                openapi: s.openapi.map(resolve),
            },
        );
    }

    let d = Limits::default();
    let l = raw.limits;
    let limits = Limits {
        header_read_timeout: l.header_read_timeout.map_or(d.header_read_timeout, |v| v.0),
        max_header_bytes: l
            .max_header_bytes
            .map_or(d.max_header_bytes, |v| v.0 as usize),
        max_uri_bytes: l.max_uri_bytes.map_or(d.max_uri_bytes, |v| v.0 as usize),
        max_request_body: l.max_request_body.map(|v| v.0),
        request_timeout: l.request_timeout.map_or(d.request_timeout, |v| v.0),
        upstream_connect_timeout: l
            .upstream_connect_timeout
            .map_or(d.upstream_connect_timeout, |v| v.0),
        idle_timeout: l.idle_timeout.map_or(d.idle_timeout, |v| v.0),
        max_connections: l.max_connections.unwrap_or(d.max_connections),
        drain_timeout: l.drain_timeout.map_or(d.drain_timeout, |v| v.0),
    };
    for (key, zero) in [
        (
            "limits.header_read_timeout",
            limits.header_read_timeout.is_zero(),
        ),
        ("limits.request_timeout", limits.request_timeout.is_zero()),
        (
            "limits.upstream_connect_timeout",
            limits.upstream_connect_timeout.is_zero(),
        ),
        ("limits.idle_timeout", limits.idle_timeout.is_zero()),
        ("limits.max_connections", limits.max_connections == 0),
    ] {
        if zero {
            check.issue(key, "must be greater than zero");
        }
    }
    if limits.max_header_bytes < 1024 {
        check.issue("limits.max_header_bytes", "must be at least 1KiB");
    }

    let dr = RecordingConfig::default();
    let r = raw.recording;
    let recording = RecordingConfig {
        queue: r.queue.unwrap_or(dr.queue),
        recent_calls: r.recent_calls.unwrap_or(dr.recent_calls),
        max_path_bytes: r.max_path_bytes.map_or(dr.max_path_bytes, |v| v.0 as usize),
        access_log: r.access_log.unwrap_or(dr.access_log),
    };
    if recording.queue == 0 {
        check.issue("recording.queue", "must be at least 1");
    }

    let egress = raw.egress.map(|e| {
        for (key, d) in [
            ("egress.connect_timeout", e.connect_timeout),
            ("egress.idle_timeout", e.idle_timeout),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                check.issue(key, "must be greater than zero");
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in e.sources.iter().enumerate() {
            if !valid_name(&s.service) {
                check.issue(&format!("egress.sources[{i}].service"), NAME_RULE);
            }
        }
        for (i, c) in e.credentials.iter().enumerate() {
            if !valid_name(&c.service) {
                check.issue(&format!("egress.credentials[{i}].service"), NAME_RULE);
            }
            if !seen.insert(c.service.clone()) {
                check.issue(
                    &format!("egress.credentials[{i}].service"),
                    format!("{} has credentials already", c.service),
                );
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        for (i, id) in e.identities.iter().enumerate() {
            if !valid_name(&id.service) {
                check.issue(&format!("egress.identities[{i}].service"), NAME_RULE);
            }
            if !ids.insert(id.identity.clone()) {
                check.issue(&format!("egress.identities[{i}].identity"), "listed twice");
            }
        }
        for (i, c) in e.credentials.iter().enumerate() {
            if c.token.len() < 16 {
                check.issue(
                    &format!("egress.credentials[{i}].token"),
                    "use a token of at least 16 characters",
                );
            }
        }
        EgressConfig {
            listen: e.listen.unwrap_or(DEFAULT_EGRESS),
            sources: e
                .sources
                .into_iter()
                .map(|s| (s.cidr.trunc(), s.service))
                .collect(),
            credentials: e
                .credentials
                .into_iter()
                .map(|c| (c.service, c.token))
                .collect(),
            connect_timeout: e.connect_timeout.map_or(Duration::from_secs(5), |d| d.0),
            idle_timeout: e.idle_timeout.map_or(Duration::from_secs(300), |d| d.0),
            tls: egress_tls,
            identities: e
                .identities
                .into_iter()
                .map(|i| (i.identity, i.service))
                .collect(),
        }
    });
    let mut hosts = BTreeMap::new();
    for (name, ips) in raw.dns.hosts {
        match sightline_policy::parse_host(&name) {
            Ok(sightline_policy::Host::Name(n)) => {
                if ips.is_empty() {
                    check.issue(&format!("dns.hosts.{name}"), "give at least one address");
                }
                hosts.insert(n, ips);
            }
            Ok(sightline_policy::Host::Ip(_)) => check.issue(
                &format!("dns.hosts.{name}"),
                "the key must be a host name, not an address",
            ),
            Err(e) => check.issue(
                &format!("dns.hosts.{name}"),
                format!("invalid host name: {e}"),
            ),
        }
    }
    if raw.dns.timeout.is_some_and(|d| d.0.is_zero()) {
        check.issue("dns.timeout", "must be greater than zero");
    }
    let dns = DnsConfig {
        servers: raw.dns.servers,
        hosts,
        timeout: raw.dns.timeout.map_or(Duration::from_secs(2), |d| d.0),
    };
    let mode = |m: file::ModeFile| match m {
        file::ModeFile::Enforce => sightline_policy::Mode::Enforce,
        file::ModeFile::Report => sightline_policy::Mode::Report,
    };
    let mut networks = Vec::new();
    for (i, n) in raw.enclave.networks.into_iter().enumerate() {
        networks.push(match n {
            file::NetworkFile::Plain(net) => sightline_policy::Network::new(net),
            file::NetworkFile::WithExceptions(n) => {
                let net = n.net.trunc();
                for (j, e) in n.except.iter().enumerate() {
                    if !net.contains(e) {
                        check.issue(
                            &format!("enclave.networks[{i}].except[{j}]"),
                            format!("{e} is not inside {net}"),
                        );
                    }
                }
                sightline_policy::Network {
                    net,
                    except: n.except,
                }
            }
        });
    }
    let mut rules = Vec::new();
    for (i, r) in raw.enclave.rules.into_iter().enumerate() {
        let mut patterns = Vec::new();
        for (j, h) in r.hosts.iter().enumerate() {
            match h.parse::<sightline_policy::HostPattern>() {
                Ok(p) => patterns.push(p),
                Err(e) => check.issue(
                    &format!("enclave.rules[{i}].hosts[{j}]"),
                    format!("invalid host pattern {h:?}: {e}"),
                ),
            }
        }
        if r.ports.contains(&0) {
            check.issue(&format!("enclave.rules[{i}].ports"), "ports are 1 to 65535");
        }
        rules.push(sightline_policy::EgressRule {
            service: r.service,
            hosts: patterns,
            cidrs: r.cidrs.into_iter().map(|c| c.trunc()).collect(),
            ports: r.ports,
            action: match r.action {
                file::ActionFile::Allow => sightline_policy::RuleAction::Allow,
                file::ActionFile::Deny => sightline_policy::RuleAction::Deny,
            },
            mode: r.mode.map(mode),
        });
    }
    let enclave = EnclaveConfig {
        mode: mode(raw.enclave.mode),
        networks,
        rules,
    };

    let storage = raw.storage.map(|s| crate::store::StoreConfig {
        path: resolve(s.path),
        retention: s.retention.map_or(Duration::from_secs(86_400), |d| d.0),
        max_calls: s.max_calls.unwrap_or(1_000_000),
    });
    let da = AnalysisSettings::default();
    let analysis = AnalysisSettings {
        step: raw.analysis.step.map_or(da.step, |d| d.0),
        learning: raw.analysis.learning.map_or(da.learning, |d| d.0),
        persistence: raw.analysis.persistence.map_or(da.persistence, |d| d.0),
        min_rate: raw.analysis.min_rate.unwrap_or(da.min_rate),
        timezone: raw.analysis.timezone.take(),
    };
    if let Err(reason) = crate::analysis::baseline::Zone::new(analysis.timezone.as_deref()) {
        check.issue("analysis.timezone", reason);
    }
    if analysis.step < Duration::from_millis(10) || analysis.step > Duration::from_secs(60) {
        check.issue("analysis.step", "between 10ms and 1m");
    }
    if analysis.persistence < analysis.step {
        check.issue(
            "analysis.persistence",
            "at least one step (1m unless analysis.step is shorter)",
        );
    }
    if !(analysis.min_rate >= 0.0 && analysis.min_rate.is_finite()) {
        check.issue("analysis.min_rate", "must be zero or more calls per step");
    }

    let clients = clients::convert(raw.clients.take(), resolve, check);
    let mut telemetry_issues = Vec::new();
    let telemetry = telemetry::convert(
        raw.telemetry.take(),
        &|k| std::env::var(k).ok(),
        &mut telemetry_issues,
    );
    for (key, message) in telemetry_issues {
        check.issue(&key, message);
    }
    let alerts = alerts::convert(raw.alerts, &resolve, check);

    let mut inbound = InboundConfig {
        listen: raw.inbound.listen.unwrap_or(defaults::INBOUND),
        tls,
        routes,
    };
    // Most specific first: exact hosts, then suffixes (longest first), then any; longer prefixes first.
    inbound.routes.sort_by(|a, b| {
        let rank = |h: &HostMatch| match h {
            HostMatch::Exact(_) => (0, 0),
            HostMatch::Suffix(s) => (1, usize::MAX - s.len()),
            HostMatch::Any => (2, 0),
        };
        rank(&a.host)
            .cmp(&rank(&b.host))
            .then(b.path_prefix.len().cmp(&a.path_prefix.len()))
    });
    Config {
        admin,
        inbound,
        services,
        limits,
        recording,
        egress,
        dns,
        enclave,
        analysis,
        storage,
        clients,
        telemetry,
        alerts,
        source: ConfigSource::default(),
    }
}

const NAME_RULE: &str =
    "service names start with a letter or digit and use letters, digits, '-', '_' and '.' only (at most 64)";

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_host_match(h: &str) -> Option<HostMatch> {
    let h = h.to_ascii_lowercase();
    let h = h.trim_end_matches('.');
    let label_ok = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if let Some(rest) = h.strip_prefix("*.") {
        label_ok(rest).then(|| HostMatch::Suffix(format!(".{rest}")))
    } else if h.parse::<std::net::IpAddr>().is_ok() || label_ok(h) {
        Some(HostMatch::Exact(h.to_owned()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
