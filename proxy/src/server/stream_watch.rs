//! HTTP/2 streams whose client stops taking the response. A client can keep its connection
//! busy (so no write to it ever waits) while it withholds flow-control credit from one
//! stream: that stream's response body then waits forever, holding its upstream. hyper hands
//! each HTTP/2 stream's future to the executor it is given; [`StreamExecutor`] wraps each in a
//! [`StreamWatch`] that ends the stream once its response body has waited for the client
//! longer than the limit. Ending it drops the body (releasing the upstream) and resets the
//! stream. The executor runs the streams on their connection's task ([`WithStreams`]).

use futures_util::stream::{FuturesUnordered, StreamExt};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

/// A stream's future, queued for the connection's task to run.
type StreamTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs hyper's HTTP/2 stream futures (and HTTP/2 tunnels' pumps) on their connection's own
/// task, each under a [`StreamWatch`]: hyper hands each new stream to [`execute`], which queues
/// it, and the connection's [`WithStreams`] polls the queued streams next to hyper's connection.
/// No task is spawned per stream and no wake-up crosses tasks; a connection's streams share its
/// worker thread, as an HTTP/1.1 connection's requests do.
///
/// [`execute`]: hyper::rt::Executor::execute
#[derive(Clone)]
pub struct StreamExecutor {
    /// How long a response body may wait for its client.
    limit: Duration,
    queue: Arc<Mutex<Vec<StreamTask>>>,
}

impl std::fmt::Debug for StreamExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamExecutor")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
{
    fn execute(&self, fut: F) {
        let watched = StreamWatch {
            inner: fut,
            clock: Arc::new(StreamClock::default()),
            limit: self.limit,
            timer: None,
        };
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push(Box::pin(watched));
    }
}

impl StreamExecutor {
    /// An executor for one connection, whose streams' responses may wait for the client up to
    /// `limit`, and the connection `conn` (built with that executor) run with its streams.
    pub fn new(limit: Duration) -> Self {
        StreamExecutor {
            limit,
            queue: Arc::default(),
        }
    }

    /// `conn`, a connection served with this executor, run together with its streams.
    pub fn run<C>(&self, conn: C) -> WithStreams<C> {
        WithStreams {
            conn,
            queue: self.queue.clone(),
            streams: FuturesUnordered::new(),
        }
    }
}

pin_project_lite::pin_project! {
    /// An HTTP/2 connection's future and its streams' futures, polled on one task. It ends
    /// when the connection does: hyper's connection ends only once its streams are closed,
    /// and after it has failed its streams can send nothing (dropping them drops their calls,
    /// which records them as the client's connection having ended).
    pub struct WithStreams<C> {
        #[pin]
        conn: C,
        queue: Arc<Mutex<Vec<StreamTask>>>,
        streams: FuturesUnordered<StreamTask>,
    }
}

impl<C> WithStreams<C> {
    /// The connection (to ask for its graceful close).
    pub fn conn(self: Pin<&mut Self>) -> Pin<&mut C> {
        self.project().conn
    }
}

/// Rounds of new streams one poll runs before it lets the worker's other tasks go first.
const ROUNDS_PER_POLL: usize = 4;

impl<C: Future> Future for WithStreams<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        for _ in 0..ROUNDS_PER_POLL {
            // The streams first: what they send goes out when the connection is polled next.
            while let Poll::Ready(Some(())) = this.streams.poll_next_unpin(cx) {}
            let polled = this.conn.as_mut().poll(cx);
            let mut queue = this.queue.lock().unwrap_or_else(|e| e.into_inner());
            if let Poll::Ready(out) = polled {
                // Streams queued as the connection ended are dropped (each holds the queue).
                let queued = std::mem::take(&mut *queue);
                drop(queue);
                drop(queued);
                return Poll::Ready(out);
            }
            if queue.is_empty() {
                return Poll::Pending;
            }
            // The connection accepted new streams: start them, then let it send what they
            // answered at once.
            this.streams.extend(queue.drain(..));
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

pin_project_lite::pin_project! {
    /// One stream's future, ended when its response body has waited for the client too long.
    struct StreamWatch<F> {
        #[pin]
        inner: F,
        clock: Arc<StreamClock>,
        limit: Duration,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<F: Future> Future for StreamWatch<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let previous = CURRENT.with(|c| c.replace(Some(this.clock.clone())));
        let polled = this.inner.poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        if polled.is_ready() {
            return Poll::Ready(());
        }
        let since = this.clock.waiting_since.load(Ordering::Relaxed);
        if since == 0 {
            return Poll::Pending;
        }
        let deadline = epoch() + Duration::from_millis(since) + *this.limit;
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
