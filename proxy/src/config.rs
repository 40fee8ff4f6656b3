//! Sightline's configuration: one versioned YAML file read into serde structs (`file`), then
//! checked and converted into the typed domain config below. Every error names file, line and key.

pub mod alerts;
pub mod clients;
mod error;
mod file;
mod locate;
mod runtime;
mod telemetry;
mod values;
pub(crate) mod yaml;

pub use telemetry::{
    MetricsConfig, OtlpConfig, OtlpProtocol, Sampler, TelemetryConfig, TracesConfig,
};

pub use error::{ConfigError, ConfigIssue};
pub use runtime::{available_cpus, RuntimeConfig};

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
    /// Worker threads (applies at the next restart).
    pub runtime: RuntimeConfig,
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

/// Default `egress.max_connections`.
pub const EGRESS_MAX_CONNECTIONS: usize = 10_000;

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
    /// TLS for the admin listener, when configured (then session cookies are `Secure`).
    pub tls: Option<InboundTls>,
    /// How long a dashboard login lasts; the server forgets the session after it.
    pub session_lifetime: Duration,
    /// Maximum concurrent connections on the admin listener.
    pub max_connections: usize,
    /// Time to receive a request's headers, and then its body.
    pub read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

impl AdminConfig {
    /// Default `admin.max_connections`: dashboards, scrapers and alert streams are few.
    pub const MAX_CONNECTIONS: usize = 256;
    /// Default `admin.read_timeout`.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default `admin.idle_timeout`.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

/// The inbound listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS termination, when configured.
    pub tls: Option<InboundTls>,
    /// How request paths are canonicalised before routing and the client protections.
    pub paths: PathRules,
    /// Routes, tried most specific first (exact host before wildcard before any; longer prefix first).
    pub routes: Vec<Route>,
    /// Peers that must open each connection with a PROXY protocol header naming the client
    /// (`inbound.proxy_protocol.from`); empty when off.
    pub proxy_protocol_from: Vec<ipnet::IpNet>,
}

/// How request paths are canonicalised: the one form routing, the client protections, route
/// templates and the upstream all see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathRules {
    /// `//a///b` is `/a/b`.
    pub merge_slashes: bool,
    /// What happens to `;` parameters in a segment (`/login;jsessionid=1`).
    pub params: PathParams,
    /// What happens to `%2F` and `%5C` (an encoded `/` or `\`).
    pub escaped_slashes: EscapedSlashes,
}

impl Default for PathRules {
    fn default() -> Self {
        PathRules {
            merge_slashes: true,
            params: PathParams::Strip,
            escaped_slashes: EscapedSlashes::Reject,
        }
    }
}

/// `;` parameters in path segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathParams {
    /// Removed from every segment (`/login;a=1/x` is `/login/x`).
    Strip,
    /// Left as part of the segment.
    Keep,
    /// A path with a `;` is answered 400.
    Reject,
}

/// `%2F` and `%5C` in a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapedSlashes {
    /// Answered 400.
    Reject,
    /// Decoded to `/` (both), then the path is canonicalised as usual.
    Decode,
    /// Left encoded: a segment with an encoded slash stays one segment.
    Keep,
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
    /// The service treats paths case-insensitively: the path is lowercased (ASCII) for
    /// matching the route, for the client protections and towards the upstream.
    pub ignore_case: bool,
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
    /// A request or response body (inbound, and egress forwarding) that moves no byte for
    /// this long is cut off, and so is a client connection whose writes make no progress
    /// for this long (a client that stopped reading).
    pub body_idle_timeout: Duration,
    /// On shutdown, time allowed for in-flight requests to finish.
    pub drain_timeout: Duration,
    /// On shutdown, how long `/readyz` answers 503 while the listeners still accept and serve
    /// as usual, before the drain begins (time for load balancers to stop sending).
    pub accept_grace: Duration,
    /// During the drain, a kept-alive HTTP/1.1 connection that sends no request for this long
    /// is closed; one that does gets its answer with `Connection: close`.
    pub drain_idle_grace: Duration,
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
            body_idle_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            accept_grace: Duration::ZERO,
            drain_idle_grace: Duration::from_secs(1),
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
        let raw: FileConfig = yaml::from_str(text).map_err(|e| ConfigError {
            issues: vec![ConfigIssue {
                file: file.to_owned(),
                line: e.line,
                column: e.column,
                key: e.key,
                message: e.message,
            }],
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

    /// The effective config as text (every default filled in), with every secret masked: the
    /// admin token, egress credentials, webhook URLs and signing secrets, OTLP header values.
    /// For `sightline check --print`.
    pub fn masked(&self) -> String {
        const MASK: &str = "***";
        let mut c = self.clone();
        if let Some(t) = &mut c.admin.token {
            *t = MASK.into();
        }
        if let Some(e) = &mut c.egress {
            e.credentials.values_mut().for_each(|t| *t = MASK.into());
        }
        for sink in &mut c.alerts.sinks {
            if let alerts::SinkTarget::Webhook { url, secret, .. } = &mut sink.target {
                // The scheme and host say where alerts go; the path may be the credential.
                let shown = format!(
                    "{}://{}/{MASK}",
                    url.scheme_str().unwrap_or("https"),
                    url.authority().map_or("", |a| a.as_str())
                );
                if let Ok(u) = shown.parse() {
                    *url = u;
                }
                if let Some(s) = secret {
                    *s = MASK.into();
                }
            }
        }
        if let Some(o) = &mut c.telemetry.otlp {
            o.headers.values_mut().for_each(|v| *v = MASK.into());
        }
        c.source.text = "".into();
        format!("{c:#?}")
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

/// Where a secret comes from: written inline as `key`, read from the file `key_file` (relative
/// to the config's folder; surrounding whitespace and the final newline are dropped), or from
/// the environment variable `key_env` names. At most one of them.
#[derive(Debug, Default)]
struct SecretFrom {
    inline: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
}

fn secret(
    from: SecretFrom,
    key: &str,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    check: &mut Checker<'_>,
) -> Option<String> {
    let given = [
        from.inline.is_some(),
        from.file.is_some(),
        from.env.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        let at = if from.file.is_some() {
            format!("{key}_file")
        } else {
            format!("{key}_env")
        };
        check.issue(&at, format!("set one of {key}, {key}_file and {key}_env"));
        return None;
    }
    if let Some(v) = from.inline {
        return Some(v);
    }
    if let Some(path) = from.file {
        let path = resolve(path);
        return match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(e) => {
                check.issue(
                    &format!("{key}_file"),
                    format!("{}: cannot read: {e}", path.display()),
                );
                None
            }
        };
    }
    let name = from.env?;
    match std::env::var(&name) {
        Ok(v) => Some(v.trim().to_owned()),
        Err(_) => {
            check.issue(
                &format!("{key}_env"),
                format!("environment variable {name} is not set"),
            );
            None
        }
    }
}

/// The JSON Schema of the config file, generated from the types that read it (for editor
/// completion and validation: `sightline config schema`).
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(FileConfig);
    schema.insert(
        "title".into(),
        serde_json::Value::String("Sightline configuration (version 1)".into()),
    );
    serde_json::to_string_pretty(&schema).unwrap_or_default()
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

    let token = secret(
        SecretFrom {
            inline: raw.admin.token.take(),
            file: raw.admin.token_file.take(),
            env: raw.admin.token_env.take(),
        },
        "admin.token",
        &resolve,
        check,
    );
    let mut admin = AdminConfig {
        listen: raw.admin.listen.unwrap_or(defaults::ADMIN),
        token: token.filter(|t| !t.is_empty()),
        tls: None,
        session_lifetime: raw
            .admin
            .session_lifetime
            .map_or(sightline_dashboard::DEFAULT_SESSION_LIFETIME, |d| d.0),
        max_connections: raw
            .admin
            .max_connections
            .unwrap_or(AdminConfig::MAX_CONNECTIONS),
        read_timeout: raw
            .admin
            .read_timeout
            .map_or(AdminConfig::READ_TIMEOUT, |d| d.0),
        idle_timeout: raw
            .admin
            .idle_timeout
            .map_or(AdminConfig::IDLE_TIMEOUT, |d| d.0),
    };
    if admin.session_lifetime < Duration::from_secs(1) {
        check.issue(
            "admin.session_lifetime",
            "use a session lifetime of at least 1s",
        );
    }
    for (key, zero) in [
        ("admin.max_connections", admin.max_connections == 0),
        ("admin.read_timeout", admin.read_timeout.is_zero()),
        ("admin.idle_timeout", admin.idle_timeout.is_zero()),
    ] {
        if zero {
            check.issue(key, "must be greater than zero");
        }
    }
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
    admin.tls = raw.admin.tls.take().map(|t| listener_tls(t, "admin.tls"));
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
        let path_prefix = if r.ignore_case {
            r.path_prefix.0.to_ascii_lowercase()
        } else {
            r.path_prefix.0
        };
        let route = Route {
            host,
            path_prefix,
            service: r.service,
            ignore_case: r.ignore_case,
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
        body_idle_timeout: l.body_idle_timeout.map_or(d.body_idle_timeout, |v| v.0),
        drain_timeout: l.drain_timeout.map_or(d.drain_timeout, |v| v.0),
        accept_grace: l.accept_grace.map_or(d.accept_grace, |v| v.0),
        drain_idle_grace: l.drain_idle_grace.map_or(d.drain_idle_grace, |v| v.0),
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
        (
            "limits.body_idle_timeout",
            limits.body_idle_timeout.is_zero(),
        ),
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
        if e.max_connections == Some(0) {
            check.issue("egress.max_connections", "must be greater than zero");
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
        let mut credentials = BTreeMap::new();
        for (i, c) in e.credentials.into_iter().enumerate() {
            let key = format!("egress.credentials[{i}].token");
            let from = SecretFrom {
                inline: c.token,
                file: c.token_file,
                env: c.token_env,
            };
            let Some(token) = secret(from, &key, &resolve, check) else {
                check.issue(&key, "set token, token_file or token_env");
                continue;
            };
            if token.len() < 16 {
                check.issue(&key, "use a token of at least 16 characters");
            }
            credentials.insert(c.service, token);
        }
        let inspect = e.inspect.map(|i| {
            let mut hosts = Vec::new();
            for (j, h) in i.hosts.iter().enumerate() {
                match h.parse::<sightline_policy::HostPattern>() {
                    Ok(p) => hosts.push(p),
                    Err(err) => check.issue(
                        &format!("egress.inspect.hosts[{j}]"),
                        format!("invalid host pattern {h:?}: {err}"),
                    ),
                }
            }
            InspectConfig {
                ca_cert: resolve(i.ca.cert),
                ca_key: resolve(i.ca.key),
                hosts,
                upstream_ca: i.upstream_ca.map(&resolve),
            }
        });
        if e.proxy_protocol.as_ref().is_some_and(|p| p.from.is_empty()) {
            check.issue(
                "egress.proxy_protocol.from",
                "name the networks of the load balancers that send the header",
            );
        }
        EgressConfig {
            inspect,
            proxy_protocol_from: e
                .proxy_protocol
                .map(|p| p.from.into_iter().map(|n| n.trunc()).collect())
                .unwrap_or_default(),
            listen: e.listen.unwrap_or(DEFAULT_EGRESS),
            sources: e
                .sources
                .into_iter()
                .map(|s| (s.cidr.trunc(), s.service))
                .collect(),
            credentials,
            connect_timeout: e.connect_timeout.map_or(Duration::from_secs(5), |d| d.0),
            idle_timeout: e.idle_timeout.map_or(Duration::from_secs(300), |d| d.0),
            max_connections: e.max_connections.unwrap_or(EGRESS_MAX_CONNECTIONS),
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
        for (j, m) in r.methods.iter().enumerate() {
            if http::Method::from_bytes(m.as_bytes()).is_err() || m.is_empty() {
                check.issue(
                    &format!("enclave.rules[{i}].methods[{j}]"),
                    format!("invalid method {m:?}"),
                );
            }
        }
        let mut paths = Vec::new();
        for (j, p) in r.paths.iter().enumerate() {
            match p.parse::<sightline_policy::PathPattern>() {
                Ok(p) => paths.push(p),
                Err(e) => check.issue(
                    &format!("enclave.rules[{i}].paths[{j}]"),
                    format!("invalid path pattern {p:?}: {e}"),
                ),
            }
        }
        rules.push(sightline_policy::EgressRule {
            service: r.service,
            hosts: patterns,
            cidrs: r.cidrs.into_iter().map(|c| c.trunc()).collect(),
            ports: r.ports,
            methods: r.methods,
            paths,
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
    let runtime = runtime::convert(raw.runtime.take(), check);

    let p = &raw.inbound.paths;
    let paths = PathRules {
        merge_slashes: p.merge_slashes.unwrap_or(true),
        params: match p.path_params {
            None | Some(file::PathParamsFile::Strip) => PathParams::Strip,
            Some(file::PathParamsFile::Keep) => PathParams::Keep,
            Some(file::PathParamsFile::Reject) => PathParams::Reject,
        },
        escaped_slashes: match p.escaped_slashes {
            None | Some(file::EscapedSlashesFile::Reject) => EscapedSlashes::Reject,
            Some(file::EscapedSlashesFile::Decode) => EscapedSlashes::Decode,
            Some(file::EscapedSlashesFile::Keep) => EscapedSlashes::Keep,
        },
    };
    if raw
        .inbound
        .proxy_protocol
        .as_ref()
        .is_some_and(|p| p.from.is_empty())
    {
        check.issue(
            "inbound.proxy_protocol.from",
            "name the networks of the load balancers that send the header",
        );
    }
    let mut inbound = InboundConfig {
        listen: raw.inbound.listen.unwrap_or(defaults::INBOUND),
        tls,
        paths,
        routes,
        proxy_protocol_from: raw
            .inbound
            .proxy_protocol
            .map(|p| p.from.into_iter().map(|n| n.trunc()).collect())
            .unwrap_or_default(),
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
        runtime,
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
