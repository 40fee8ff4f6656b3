//! The YAML file as written: serde structs that reject unknown keys. Values that can be checked
//! alone (addresses, durations, sizes) are parsed here, so their errors carry a line and column.

use super::values::{Authority, ByteSize, Dur, PathPrefix};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The whole file, version 1.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "the config document (a mapping with `version: 1`)"
)]
pub(crate) struct FileConfig {
    pub version: u32,
    #[serde(default)]
    pub admin: AdminFile,
    #[serde(default)]
    pub inbound: InboundFile,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceFile>,
    #[serde(default)]
    pub limits: LimitsFile,
    #[serde(default)]
    pub recording: RecordingFile,
    pub egress: Option<EgressFile>,
    #[serde(default)]
    pub dns: DnsFile,
    #[serde(default)]
    pub enclave: EnclaveFile,
    #[serde(default)]
    pub analysis: AnalysisFile,
    pub storage: Option<StorageFile>,
    pub clients: Option<super::clients::ClientsFile>,
    pub telemetry: Option<super::telemetry::TelemetryFile>,
    #[serde(default)]
    pub alerts: super::alerts::AlertsFile,
    pub fleet: Option<super::fleet::FleetFile>,
    pub runtime: Option<super::runtime::RuntimeFile>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with path, retention and max_calls"
)]
pub(crate) struct StorageFile {
    pub path: PathBuf,
    pub retention: Option<Dur>,
    pub max_calls: Option<u64>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of analysis settings")]
pub(crate) struct AnalysisFile {
    pub step: Option<Dur>,
    pub learning: Option<Dur>,
    pub persistence: Option<Dur>,
    pub min_rate: Option<f64>,
    pub timezone: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of egress settings")]
pub(crate) struct EgressFile {
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub sources: Vec<SourceFile>,
    #[serde(default)]
    pub credentials: Vec<CredentialFile>,
    pub connect_timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub max_connections: Option<usize>,
    pub tls: Option<InboundTlsFile>,
    #[serde(default)]
    pub identities: Vec<IdentityFile>,
    pub inspect: Option<InspectFile>,
    pub proxy_protocol: Option<ProxyProtocolFile>,
    pub transparent: Option<TransparentFile>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "{ listen: ADDR }")]
pub(crate) struct TransparentFile {
    pub listen: SocketAddr,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "{ ca: { cert: FILE, key: FILE }, hosts: [PATTERN, ...], upstream_ca: FILE }"
)]
pub(crate) struct InspectFile {
    pub ca: CaPairFile,
    #[serde(default)]
    pub hosts: Vec<String>,
    pub upstream_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "{ cert: FILE, key: FILE }")]
pub(crate) struct CaPairFile {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an identity mapping such as { identity: spiffe://example/orders, service: orders }"
)]
pub(crate) struct IdentityFile {
    pub identity: String,
    pub service: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a source mapping such as { cidr: 10.0.1.0/24, service: orders }"
)]
pub(crate) struct SourceFile {
    #[schemars(with = "String")]
    pub cidr: ipnet::IpNet,
    pub service: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a credential mapping such as { service: orders, token: ... }"
)]
pub(crate) struct CredentialFile {
    pub service: String,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of DNS settings")]
pub(crate) struct DnsFile {
    #[serde(default)]
    pub servers: Vec<SocketAddr>,
    #[serde(default)]
    pub hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    pub timeout: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of enclave settings")]
pub(crate) struct EnclaveFile {
    #[serde(default)]
    pub mode: ModeFile,
    #[serde(default)]
    pub networks: Vec<NetworkFile>,
    #[serde(default)]
    pub rules: Vec<RuleFile>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModeFile {
    #[default]
    Enforce,
    Report,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "a CIDR such as 10.0.0.0/8, or { net: 10.0.0.0/8, except: [10.9.0.0/16] }"
)]
pub(crate) enum NetworkFile {
    Plain(#[schemars(with = "String")] ipnet::IpNet),
    WithExceptions(NetworkExceptFile),
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "{ net: CIDR, except: [CIDR, ...] }")]
pub(crate) struct NetworkExceptFile {
    #[schemars(with = "String")]
    pub net: ipnet::IpNet,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub except: Vec<ipnet::IpNet>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ActionFile {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule such as { service: payments, hosts: [api.stripe.com], ports: [443] }"
)]
pub(crate) struct RuleFile {
    pub service: Option<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub cidrs: Vec<ipnet::IpNet>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub action: ActionFile,
    pub mode: Option<ModeFile>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of admin settings")]
pub(crate) struct AdminFile {
    pub listen: Option<SocketAddr>,
    pub token: Option<String>,
    pub tls: Option<InboundTlsFile>,
    pub session_lifetime: Option<Dur>,
    pub max_connections: Option<usize>,
    pub read_timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of inbound settings")]
pub(crate) struct InboundFile {
    pub listen: Option<SocketAddr>,
    pub tls: Option<InboundTlsFile>,
    pub proxy_protocol: Option<ProxyProtocolFile>,
    #[serde(default)]
    pub paths: PathsFile,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with merge_slashes, path_params and escaped_slashes"
)]
pub(crate) struct PathsFile {
    pub merge_slashes: Option<bool>,
    pub path_params: Option<PathParamsFile>,
    pub escaped_slashes: Option<EscapedSlashesFile>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PathParamsFile {
    Strip,
    Keep,
    Reject,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EscapedSlashesFile {
    Reject,
    Decode,
    Keep,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping such as { from: [10.0.0.0/24] } (the networks of the load balancers)"
)]
pub(crate) struct ProxyProtocolFile {
    #[schemars(with = "Vec<String>")]
    pub from: Vec<ipnet::IpNet>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping with cert and key")]
pub(crate) struct InboundTlsFile {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    #[serde(default)]
    pub client_auth: ClientAuthFile,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientAuthFile {
    /// Ask for a certificate when `client_ca` is set, accept callers without one.
    #[default]
    Optional,
    /// Refuse the handshake without a valid client certificate.
    Required,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a route mapping such as { path_prefix: /, service: name }"
)]
pub(crate) struct RouteFile {
    pub host: Option<String>,
    #[serde(default)]
    pub path_prefix: PathPrefix,
    pub service: String,
    #[serde(default)]
    pub ignore_case: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a service mapping with upstreams")]
pub(crate) struct ServiceFile {
    pub upstreams: Vec<Authority>,
    #[serde(default)]
    pub protocol: ProtocolFile,
    pub tls: Option<UpstreamTlsFile>,
    pub ejection: Option<EjectionFile>,
    pub openapi: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProtocolFile {
    #[default]
    Http1,
    Http2,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of upstream TLS settings")]
pub(crate) struct UpstreamTlsFile {
    pub ca: Option<PathBuf>,
    pub server_name: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with consecutive_failures and duration"
)]
pub(crate) struct EjectionFile {
    pub consecutive_failures: Option<u32>,
    pub duration: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of limits")]
pub(crate) struct LimitsFile {
    pub header_read_timeout: Option<Dur>,
    pub max_header_bytes: Option<ByteSize>,
    pub max_uri_bytes: Option<ByteSize>,
    pub max_request_body: Option<ByteSize>,
    pub request_timeout: Option<Dur>,
    pub upstream_connect_timeout: Option<Dur>,
    pub idle_timeout: Option<Dur>,
    pub upstream_max_idle: Option<usize>,
    pub max_connections: Option<usize>,
    pub body_idle_timeout: Option<Dur>,
    pub drain_timeout: Option<Dur>,
    pub accept_grace: Option<Dur>,
    pub drain_idle_grace: Option<Dur>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mapping of recording settings")]
pub(crate) struct RecordingFile {
    pub queue: Option<usize>,
    pub recent_calls: Option<usize>,
    pub max_path_bytes: Option<ByteSize>,
    pub access_log: Option<bool>,
}
