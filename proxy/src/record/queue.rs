//! A bounded queue from async code to a thread, whose memory follows what is queued.
//!
//! `std::sync::mpsc::sync_channel(n)` allocates and initialises all `n` slots up front: the
//! alert intake's 65,536 slots were 10 MB of the process's resident memory at start, before
//! a single signal. This queue is `std`'s unbounded channel (slots allocated in small blocks as
//! messages arrive, freed as they are taken) with the bound kept by a count: a send past it
//! fails as `Full`, as the preallocated channel's did. Same method names and errors as the
//! `std` channel it replaces.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvTimeoutError, TryRecvError, TrySendError};

/// The sending side; cheap to clone.
#[derive(Debug)]
pub struct Sender<T> {
    tx: mpsc::Sender<T>,
    queued: Arc<AtomicUsize>,
    cap: usize,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
            cap: self.cap,
        }
    }
}

/// The receiving side.
#[derive(Debug)]
pub struct Receiver<T> {
    rx: mpsc::Receiver<T>,
    queued: Arc<AtomicUsize>,
}

/// A queue holding at most `cap` messages (at least 1).
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let tx = Sender {
        tx,
        queued: queued.clone(),
        cap: cap.max(1),
    };
    (tx, Receiver { rx, queued })
}

impl<T> Sender<T> {
    /// Queues `v` without waiting: `Full` when `cap` messages wait, `Disconnected` when the
    /// receiver is gone.
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.cap {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(TrySendError::Full(v));
        }
        self.tx.send(v).map_err(|mpsc::SendError(v)| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            TrySendError::Disconnected(v)
        })
    }
}

impl<T> Receiver<T> {
    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let v = self.rx.recv_timeout(timeout)?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Ok(v)
    }

    /// The next message, if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let v = self.rx.try_recv()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Ok(v)
    }

    /// The next message, waiting for it; `Err` once every sender is gone and none is left.
    pub fn recv(&self) -> Result<T, mpsc::RecvError> {
        let v = self.rx.recv()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Ok(v)
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_holds_exactly_and_frees_as_messages_are_taken() {
        let (tx, rx) = channel(3);
        let tx2 = tx.clone();
        for i in 0..3 {
            tx.try_send(i).unwrap();
        }
        assert!(matches!(tx2.try_send(9), Err(TrySendError::Full(9))));
        assert_eq!(rx.len(), 3);
        assert_eq!(rx.try_recv().unwrap(), 0);
        tx2.try_send(3).unwrap();
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        let got: Vec<_> = (0..3)
            .map(|_| rx.recv_timeout(Duration::ZERO).unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        drop(rx);
        assert!(matches!(tx.try_send(5), Err(TrySendError::Disconnected(5))));
    }
}
