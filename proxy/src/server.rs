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

pub use conn::{serve_connection, ConnActivity, ConnCtx, ConnLimits, ConnService};
pub use h1::{HeadFields, HeadRefused, NativeBody, RequestBody, ServerBody, WireFields};
pub use relay::{relay, relay_tcp, upgraded_tcp, TcpSide};
pub use stream_watch::{current as current_stream_clock, StreamClock, StreamExecutor};
pub use tracker::{ConnTicket, ConnTracker};

/// The error a body or an exchange carries on either stack, server or upstream client: any error
/// that may cross tasks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `fut` in `slot`, a box allocated before `fut` was built (`in_box(Box::new_uninit(),
/// make(..))`): the future can then be built where it stays, rather than on the stack and
/// copied into the box as `Box::pin` does (a request's futures are kilobytes, and built once
/// per request).
#[inline(always)]
pub fn in_box<F: std::future::Future>(
    slot: Box<std::mem::MaybeUninit<F>>,
    fut: F,
) -> std::pin::Pin<Box<F>> {
    Box::into_pin(Box::write(slot, fut))
}

/// Returns once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Which server serves HTTP/1.x on the inbound and egress listeners (`runtime.http1`). HTTP/2,
/// upgrades and CONNECT are served by hyper either way, and so is the admin listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Http1Server {
    /// Sightline's own HTTP/1.1 framing over httparse: no buffer held by an idle connection.
    #[default]
    Native,
    /// hyper's HTTP/1.1 server.
    Hyper,
}
