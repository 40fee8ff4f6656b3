//! Serving HTTP on accepted connections: the native HTTP/1.1 server ([`h1`]), hyper's HTTP/1.1
//! (with upgrades) or HTTP/2 server, the connection limits, idle close and graceful drain shared
//! by the inbound, egress and admin listeners.

mod conn;
pub mod h1;
pub mod proxy_protocol;
mod relay;
mod sniff;
mod stall;
mod stream_watch;
mod tracker;

pub use conn::{serve_connection, ConnActivity, ConnLimits};
pub use h1::{NativeBody, RequestBody, ServerBody};
pub use relay::relay;
pub use stream_watch::{current as current_stream_clock, StreamClock, StreamExecutor};
pub use tracker::{ConnTicket, ConnTracker};

/// Returns once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
