//! Serving HTTP on accepted connections: hyper's HTTP/1.1 (with upgrades) or HTTP/2 server, the
//! connection limits, idle close and graceful drain shared by the inbound and admin listeners.

mod conn;
pub mod proxy_protocol;
mod relay;
mod sniff;
mod tracker;

pub use conn::{serve_connection, ConnActivity, ConnLimits};
pub use relay::relay;
pub use tracker::{ConnTicket, ConnTracker};

/// Returns once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
