//! Counts open connections so shutdown can wait for them to drain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Open connections of one or more listeners.
#[derive(Debug, Default)]
pub struct ConnTracker {
    open: AtomicUsize,
    changed: Notify,
}

/// One open connection; dropping it closes the count.
#[derive(Debug)]
pub struct ConnTicket(Arc<ConnTracker>);

impl ConnTracker {
    /// Counts a new connection until the ticket drops.
    pub fn open(self: &Arc<Self>) -> ConnTicket {
        self.open.fetch_add(1, Ordering::AcqRel);
        ConnTicket(self.clone())
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Waits until no connection is open or `deadline` passes; true when all closed.
    pub async fn drained(&self, deadline: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(deadline, wait).await.is_ok()
    }
}

impl Drop for ConnTicket {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}
