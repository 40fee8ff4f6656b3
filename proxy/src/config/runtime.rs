//! The `runtime:` section: how many worker threads serve the listeners (applies at the next
//! restart, not on reload).

use super::context::Convert;
pub use crate::h1pool::Http1Client;
pub use crate::server::Http1Server;
use serde::Deserialize;

/// The section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with workers, http1 and upstream_http1"
)]
pub(crate) struct RuntimeFile {
    /// Worker threads; default: the CPUs this process may run on.
    pub workers: Option<usize>,
    /// The HTTP/1.1 server of the inbound and egress listeners: `native` (default) or `hyper`.
    pub http1: Option<Http1Server>,
    /// The HTTP/1.1 client of upstream connections: `native` (default) or `hyper`.
    pub upstream_http1: Option<Http1Client>,
}

/// The most worker threads a config may ask for.
pub const MAX_WORKERS: usize = 1024;

/// Runtime settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Worker threads; `None` follows the CPUs in the process's scheduler affinity (and cgroup
    /// CPU quota), as nginx's `worker_processes auto`.
    pub workers: Option<usize>,
    /// The inbound and egress listeners' HTTP/1.1 server (read as each connection is accepted).
    pub http1: Http1Server,
    /// The HTTP/1.1 client of upstream connections (read as each service's pool is built).
    pub upstream_http1: Http1Client,
}

impl RuntimeConfig {
    /// The worker count to start with: the setting, else the CPUs this process may run on.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(available_cpus)
    }
}

/// The CPUs this process may run on: its scheduler affinity mask, capped by a cgroup CPU quota
/// (`std::thread::available_parallelism` reads both on Linux); 1 when that cannot be read.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

pub(super) fn convert(raw: Option<RuntimeFile>, cx: &mut Convert<'_>) -> RuntimeConfig {
    let raw = raw.unwrap_or_default();
    if let Some(n) = raw.workers {
        if n == 0 || n > MAX_WORKERS {
            cx.issue(
                "runtime.workers",
                format!("between 1 and {MAX_WORKERS} worker threads"),
            );
        }
    }
    RuntimeConfig {
        workers: raw.workers,
        http1: raw.http1.unwrap_or_default(),
        upstream_http1: raw.upstream_http1.unwrap_or_default(),
    }
}
