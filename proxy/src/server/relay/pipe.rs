//! Pipes for splice(2): a relayed chunk moves socket → pipe → socket inside the kernel, so its
//! bytes are never copied into the proxy's memory and out again.
//!
//! A pipe is taken only while a chunk is in flight and given back empty once the chunk is
//! written: an open tunnel with nothing in flight holds no pipe. Empty pipes are kept in a
//! small per-worker free list (as [`crate::server::h1::buffers`] keeps read buffers), so a busy
//! tunnel does not create and close a pipe per chunk. A pipe is two file descriptors; a
//! tunnel holds at most one pipe per direction, and only while its reader is slower than its
//! writer.

use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// Capacity asked for each pipe, and the most one splice moves: four times the kernel's
/// default, so a bulk transfer takes a quarter of the splices and reaches the receiver in
/// larger bursts (see BENCHMARKS.md, "Tunnels: what limits the 1 MiB cell"). The per-user pipe
/// budget, `/proc/sys/fs/pipe-user-pages-soft` (64 MiB by default), covers 256 pipes of this
/// size in flight at once; past it the kernel makes new pipes of two pages and refuses to
/// grow them (unless the process may exceed the budget). Such a pipe still works, it moves
/// less per splice, and it is closed, not kept, when given back.
pub(super) const PIPE_SIZE: usize = 256 * 1024;

/// Empty pipes kept per worker thread; beyond it, given-back pipes are closed.
const KEPT: usize = 16;

thread_local! {
    static FREE: Cell<Vec<Pipe>> = const { Cell::new(Vec::new()) };
}

/// A pipe's two ends.
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Whether the kernel gave it [`PIPE_SIZE`] (only such pipes are kept for reuse).
    full_size: bool,
}

impl Pipe {
    /// An empty pipe from this worker's free list, or a new one.
    pub(super) fn take() -> io::Result<Pipe> {
        let kept = FREE
            .try_with(|free| {
                let mut list = free.take();
                let pipe = list.pop();
                free.set(list);
                pipe
            })
            .ok()
            .flatten();
        if let Some(pipe) = kept {
            return Ok(pipe);
        }
        let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        // Best effort: a pipe of another size still works, it moves less per splice.
        let full_size = fcntl_setpipe_size(&write, PIPE_SIZE).is_ok_and(|size| size >= PIPE_SIZE);
        Ok(Pipe {
            read,
            write,
            full_size,
        })
    }

    /// Gives an empty pipe back to this worker's free list (or closes it when the list is
    /// full, or when it is smaller than [`PIPE_SIZE`]: a later pipe may get the full size
    /// once the user's pipe budget has room again). Only a pipe whose bytes were all written
    /// out may be given back.
    pub(super) fn give(self) {
        if !self.full_size {
            return;
        }
        let _ = FREE.try_with(|free| {
            let mut list = free.take();
            if list.len() < KEPT {
                list.push(self);
            }
            free.set(list);
        });
    }

    /// Moves up to [`PIPE_SIZE`] bytes waiting on `from` into the (empty) pipe: 0 at the end
    /// of `from`'s stream, `WouldBlock` when nothing is waiting.
    pub(super) fn fill(&self, from: impl AsFd) -> io::Result<usize> {
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        Ok(splice(from, None, &self.write, None, PIPE_SIZE, flags)?)
    }

    /// Moves up to `len` of the pipe's bytes to `to`: `WouldBlock` when `to` takes none now.
    pub(super) fn drain(&self, to: impl AsFd, len: usize) -> io::Result<usize> {
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        Ok(splice(&self.read, None, to, None, len, flags)?)
    }
}

/// Empty pipes on this worker's free list.
#[cfg(test)]
pub(super) fn kept() -> usize {
    FREE.with(|free| {
        let list = free.take();
        let n = list.len();
        free.set(list);
        n
    })
}

/// Whether a splice failed because this kernel or these descriptors cannot splice (the relay
/// then copies instead), not because of the connection.
pub(super) fn unsupported(e: &io::Error) -> bool {
    let raw = e.raw_os_error();
    [
        rustix::io::Errno::INVAL,
        rustix::io::Errno::NOSYS,
        rustix::io::Errno::OPNOTSUPP,
    ]
    .iter()
    .any(|errno| raw == Some(errno.raw_os_error()))
}

#[cfg(test)]
mod tests;
