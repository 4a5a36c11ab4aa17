//! The streams of a WebTransport session: quinn's, reset when the session is gone.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use super::wire::{code, http3_error_code, SESSION_GONE};

/// The sending half of a WebTransport stream: a [`quinn::SendStream`] (all its methods are
/// available through `Deref`) that is reset when its session ends.
pub struct SendStream {
    inner: quinn::SendStream,
    gone: Arc<AtomicBool>,
    _permit: Option<Arc<OwnedSemaphorePermit>>,
}

impl SendStream {
    pub(crate) fn new(
        inner: quinn::SendStream,
        gone: Arc<AtomicBool>,
        permit: Option<Arc<OwnedSemaphorePermit>>,
    ) -> Self {
        Self {
            inner,
            gone,
            _permit: permit,
        }
    }
}

impl SendStream {
    /// Resets the stream with WebTransport application error `code` (mapped into the HTTP/3
    /// error space, as the client's WebTransport API expects).
    pub fn reset_with(&mut self, code: u32) -> Result<(), quinn::ClosedStream> {
        self.inner.reset(http3_error_code(code))
    }
}

impl Deref for SendStream {
    type Target = quinn::SendStream;
    fn deref(&self) -> &quinn::SendStream {
        &self.inner
    }
}

impl DerefMut for SendStream {
    fn deref_mut(&mut self) -> &mut quinn::SendStream {
        &mut self.inner
    }
}

impl fmt::Debug for SendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendStream")
            .field("id", &self.inner.id())
            .finish_non_exhaustive()
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.inner), cx)
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if self.gone.load(Ordering::Acquire) {
            let _ = self.inner.reset(code(SESSION_GONE));
        }
    }
}

/// The receiving half of a WebTransport stream: a [`quinn::RecvStream`] (all its methods are
/// available through `Deref`) that is stopped when its session ends.
pub struct RecvStream {
    inner: quinn::RecvStream,
    gone: Arc<AtomicBool>,
    _permit: Option<Arc<OwnedSemaphorePermit>>,
}

impl RecvStream {
    pub(crate) fn new(
        inner: quinn::RecvStream,
        gone: Arc<AtomicBool>,
        permit: Option<Arc<OwnedSemaphorePermit>>,
    ) -> Self {
        Self {
            inner,
            gone,
            _permit: permit,
        }
    }
}

impl RecvStream {
    /// Asks the client to stop sending, with WebTransport application error `code` (mapped
    /// into the HTTP/3 error space).
    pub fn stop_with(&mut self, code: u32) -> Result<(), quinn::ClosedStream> {
        self.inner.stop(http3_error_code(code))
    }
}

impl Deref for RecvStream {
    type Target = quinn::RecvStream;
    fn deref(&self) -> &quinn::RecvStream {
        &self.inner
    }
}

impl DerefMut for RecvStream {
    fn deref_mut(&mut self) -> &mut quinn::RecvStream {
        &mut self.inner
    }
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("id", &self.inner.id())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        AsyncRead::poll_read(Pin::new(&mut self.inner), cx, buf)
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if self.gone.load(Ordering::Acquire) {
            let _ = self.inner.stop(code(SESSION_GONE));
        }
    }
}
