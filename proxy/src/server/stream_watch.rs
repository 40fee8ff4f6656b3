//! HTTP/2 streams whose client stops taking the response. A client can keep its connection
//! busy (so no write to it ever waits) while it withholds flow-control credit from one
//! stream: that stream's response body then waits forever, holding its upstream. hyper runs
//! each HTTP/2 stream as a task of the executor it is given; [`StreamExecutor`] wraps each in a
//! [`StreamWatch`] that ends the stream once its response body has waited for the client
//! longer than the limit. Ending it drops the body (releasing the upstream) and resets the
//! stream.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// When a response body has something for its client and is waiting to be asked for it.
#[derive(Debug, Default)]
pub struct StreamClock {
    /// Milliseconds since [`epoch`] at which the body began waiting; 0 when it is not.
    waiting_since: AtomicU64,
    /// The watch ended the stream because of the wait.
    cut: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    // At least 1: 0 means "not waiting".
    (epoch().elapsed().as_millis() as u64).max(1)
}

impl StreamClock {
    /// The body is waiting for the client to ask for more (new, or it just gave a frame).
    pub fn waiting_on_client(&self) {
        self.waiting_since.store(now_ms(), Ordering::Relaxed);
    }

    /// The client asked; the body is not waiting on it.
    pub fn asked(&self) {
        self.waiting_since.store(0, Ordering::Relaxed);
    }

    /// Whether the watch ended the stream because the client took nothing.
    pub fn was_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

thread_local! {
    /// The clock of the HTTP/2 stream being polled on this thread, if any.
    static CURRENT: RefCell<Option<Arc<StreamClock>>> = const { RefCell::new(None) };
}

/// The clock of the HTTP/2 stream whose task is running now (`None` outside one, such as on
/// HTTP/1.1). A response body created while its stream's service runs reports to it.
pub fn current() -> Option<Arc<StreamClock>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Spawns hyper's HTTP/2 stream tasks, each under a [`StreamWatch`].
#[derive(Clone, Copy, Debug)]
pub struct StreamExecutor {
    /// How long a response body may wait for its client.
    pub limit: Duration,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(StreamWatch {
            inner: Box::pin(fut),
            clock: Arc::new(StreamClock::default()),
            limit: self.limit,
            timer: None,
        });
    }
}

/// One stream's task, ended when its response body has waited for the client too long.
struct StreamWatch<F> {
    inner: Pin<Box<F>>,
    clock: Arc<StreamClock>,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<F: Future> Future for StreamWatch<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let previous = CURRENT.with(|c| c.replace(Some(this.clock.clone())));
        let polled = this.inner.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        if polled.is_ready() {
            return Poll::Ready(());
        }
        let since = this.clock.waiting_since.load(Ordering::Relaxed);
        if since == 0 {
            return Poll::Pending;
        }
        let deadline = epoch() + Duration::from_millis(since) + this.limit;
        let timer = match this.timer.as_mut() {
            Some(t) => {
                if t.deadline() != deadline {
                    t.as_mut().reset(deadline);
                }
                t
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The body has waited for the client since `since`: end the stream.
        tracing::debug!(limit = ?this.limit, "HTTP/2 client took nothing of a response; stream reset");
        this.clock.cut.store(true, Ordering::Release);
        Poll::Ready(())
    }
}
