//! Integration-test harness for Sightline: real upstream servers on loopback port 0, the proxy
//! started in-process from a config, a small HTTP client, and waiting on conditions with
//! deadlines instead of sleeping.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod client;
pub mod dns;
pub mod eventually;
pub mod netns;
pub mod otel;
pub mod postgres;
pub mod prometheus;
pub mod proxy;
pub mod raw;
pub mod receivers;
pub mod redis;
pub mod upstream;

pub use client::{Client, Reply};
pub use eventually::eventually;
pub use proxy::TestProxy;
pub use upstream::{TestUpstream, UpstreamKind};
