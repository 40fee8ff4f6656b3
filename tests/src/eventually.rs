//! Waiting on a condition with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long `eventually` waits by default.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` until it returns `Some`, or panics with `what` after `PATIENCE`.
pub async fn eventually<T, F, Fut>(what: &str, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
