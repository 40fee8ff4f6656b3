//! Sightline: an inline proxy that records every API call crossing it, so platform and security
//! teams can see which services exist, who calls whom, and stop what should not happen.
//!
//! The inbound stack is read top to bottom in [`inbound`]; the config in [`config`]; what a
//! request reads of the config in force in [`state`]; the running process in [`runtime`].
//! `docs/ARCHITECTURE.md` draws the layers the modules form and the request phases.
#![forbid(unsafe_code)]

pub mod admin;
pub mod alerts;
pub mod analysis;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod demo;
pub mod egress;
pub mod enclave;
pub mod errors;
pub mod export;
pub mod fleet;
pub mod h1pool;
pub mod inbound;
pub mod lifecycle;
pub mod metrics;
pub mod record;
pub mod recorder;
pub mod runtime;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod trace;
pub mod upstream;
pub mod wire;

pub use config::Config;
pub use runtime::{Sightline, StartError};
