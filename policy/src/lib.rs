//! Pure policy model for Sightline: decisions with their reasons and network sets, no I/O.
//!
//! Everything here is a plain function over data, so the proxy's decisions can be tested with
//! tables and properties without sockets or clocks.
#![forbid(unsafe_code)]

mod decision;
mod network;

pub use decision::{Decision, Verdict};
pub use network::Network;
