//! Sightline's configuration: one versioned YAML file read into serde structs (`file`), then
//! checked and converted into the typed domain config. Every error names file, line and key.
//!
//! Each top-level key has its own module holding its checked types and its converter; every
//! converter has the same shape (see `context`): it takes the section as read and the
//! conversion in progress, records each problem there, and returns the checked section.
//! `convert` calls them in file order.

mod admin;
pub mod alerts;
mod analysis;
pub mod clients;
mod context;
mod dns;
mod egress;
mod enclave;
mod error;
mod file;
pub mod fleet;
mod inbound;
mod limits;
mod locate;
mod recording;
mod runtime;
mod services;
mod storage;
mod telemetry;
mod tls;
mod values;
pub(crate) mod yaml;

pub use admin::AdminConfig;
pub use analysis::{time_zone, AnalysisSettings};
pub use dns::DnsConfig;
pub use egress::{EgressConfig, InspectConfig, DEFAULT_EGRESS, EGRESS_MAX_CONNECTIONS};
pub use enclave::EnclaveConfig;
pub use error::{ConfigError, ConfigIssue};
pub use inbound::{EscapedSlashes, HostMatch, InboundConfig, PathParams, PathRules, Route};
pub use limits::Limits;
pub use recording::RecordingConfig;
pub use services::{Ejection, ServiceConfig, UpstreamProtocol, UpstreamTls};
pub use storage::StoreConfig;
pub use telemetry::{
    MetricsConfig, OtlpConfig, OtlpProtocol, Sampler, TelemetryConfig, TracesConfig,
};
pub use tls::InboundTls;

use context::Convert;
use file::FileConfig;
pub use runtime::{available_cpus, Http1Client, Http1Server, RuntimeConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

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
    pub storage: Option<StoreConfig>,
    /// Abusive-client protections (off when the section is absent).
    pub clients: clients::ClientsConfig,
    /// OpenTelemetry export, trace-context formats and metric label caps.
    pub telemetry: TelemetryConfig,
    /// Alert severities, grouping and sinks.
    pub alerts: alerts::AlertsConfig,
    /// The fleet this instance shares state with (`None`: it stands alone).
    pub fleet: Option<fleet::FleetConfig>,
    /// Worker threads (applies at the next restart) and the inbound HTTP/1.1 server.
    pub runtime: RuntimeConfig,
    /// Where the config came from, to name file and line in errors found later.
    pub source: ConfigSource,
}

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
        let env = |name: &str| std::env::var(name).ok();
        let mut cx = Convert::new(text, file, base, &env);
        let mut config = convert(raw, &mut cx);
        if cx.issues.is_empty() {
            config.source = ConfigSource {
                file: file.to_owned(),
                text: text.into(),
            };
            Ok(config)
        } else {
            cx.issues.sort_by_key(|i| i.line);
            Err(ConfigError { issues: cx.issues })
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
            v.extend(e.transparent);
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

/// Checks the file's version, then converts every section in file order.
fn convert(raw: FileConfig, cx: &mut Convert<'_>) -> Config {
    if raw.version != VERSION {
        cx.issue(
            "version",
            format!(
                "unsupported version {}; this build reads version {VERSION}",
                raw.version
            ),
        );
    }
    cx.services = raw.services.keys().cloned().collect();
    Config {
        admin: admin::convert(raw.admin, cx),
        inbound: inbound::convert(raw.inbound, cx),
        services: services::convert(raw.services, cx),
        limits: limits::convert(raw.limits, cx),
        recording: recording::convert(raw.recording, cx),
        egress: egress::convert(raw.egress, cx),
        dns: dns::convert(raw.dns, cx),
        enclave: enclave::convert(raw.enclave, cx),
        analysis: analysis::convert(raw.analysis, cx),
        storage: storage::convert(raw.storage, cx),
        clients: clients::convert(raw.clients, cx),
        telemetry: telemetry::convert(raw.telemetry, cx),
        alerts: alerts::convert(raw.alerts, cx),
        fleet: fleet::convert(raw.fleet, cx),
        runtime: runtime::convert(raw.runtime, cx),
        source: ConfigSource::default(),
    }
}

#[cfg(test)]
mod tests;
