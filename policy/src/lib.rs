//! Pure policy model for Sightline: decisions with their reasons and network sets, no I/O.
//!
//! Everything here is a plain function over data, so the proxy's decisions can be tested with
//! tables and properties without sockets or clocks.
#![forbid(unsafe_code)]

mod address;
pub mod clients;
mod decision;
mod enclave;
mod host;
mod metadata;
mod network;
mod request;

pub use address::{classify, effective_ip, special_range, AddressClass};
pub use decision::{Decision, Verdict};
pub use enclave::{Cause, EgressRule, EgressVerdict, Enclave, Mode, RuleAction};
pub use host::{parse_authority, parse_host, parse_host_port, Host, HostError, HostPattern};
pub use metadata::{metadata_endpoint, MetadataEndpoint, METADATA_ENDPOINTS};
pub use network::{canonical, Network};
pub use request::{canonical_segments, PathPattern, PathPatternError, RequestLine};
