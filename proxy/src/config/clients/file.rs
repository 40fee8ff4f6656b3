//! The `clients:` section as written: serde structs that reject unknown keys; rates and routes
//! are checked while the file is read, so their errors carry a line.

use super::super::file::ModeFile;
use super::super::values::Dur;
use super::RouteSpec;
use ipnet::IpNet;
use serde::{de, Deserialize, Deserializer};
use sightline_policy::clients::Rate;
use std::path::PathBuf;

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

super::super::values::text_schema!(
    RateText,
    "Rate",
    "A rate: a count per second, minute or hour, such as 100/s, 5/m or 1000/h."
);

impl RateText {
    pub(super) fn with_burst(&self, burst: Option<u32>) -> Option<Rate> {
        Rate::parse(&self.0, burst).ok()
    }
}
