//! The socket a native upstream connection reads and writes. A plain TCP connection is used
//! as tokio's stream, with no adapter between: the connector hands it over wrapped for hyper
//! (`MaybeHttpsStream` over `TokioIo`), and every read and write through those wrappers
//! crosses two conversions of the read buffer and back. A TLS connection keeps the wrappers.

use super::Io;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connected upstream socket, as the native client uses it.
pub enum Stream {
    /// Plain TCP, read and written directly.
    Plain(TcpStream),
    /// TLS over TCP, through the connector's wrappers. Boxed: its state is kilobytes, and a
    /// plain connection need not be sized for it.
    Tls(Box<TokioIo<Io>>),
}

impl From<Io> for Stream {
    fn from(io: Io) -> Self {
        match io {
            hyper_rustls::MaybeHttpsStream::Http(tcp) => Stream::Plain(tcp.into_inner()),
            tls @ hyper_rustls::MaybeHttpsStream::Https(_) => {
                Stream::Tls(Box::new(TokioIo::new(tls)))
            }
        }
    }
}

impl Stream {
    /// Whether a read that does not wait finds nothing: the upstream has neither closed the
    /// connection nor sent anything. A plain socket is asked without registering for a
    /// wake-up (its last reader's registration stays).
    pub fn quiet(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self {
            Stream::Plain(tcp) => {
                matches!(tcp.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            Stream::Tls(tls) => {
                let mut rb = ReadBuf::new(&mut byte);
                let mut cx = Context::from_waker(Waker::noop());
                Pin::new(&mut **tls)
                    .poll_read(&mut cx, &mut rb)
                    .is_pending()
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
