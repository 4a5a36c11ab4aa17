//! The streams of a WebTransport session: quinn's, with the methods a handler uses, ended when
//! the session is gone.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use quinn::{
    Chunk, ClosedStream, ReadError, ReadExactError, ReadToEndError, StoppedError, StreamId, VarInt,
    WriteError,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use super::wire::{code, http3_error_code, SESSION_GONE};

/// A half of a quinn stream as a WebTransport stream holds it.
trait Half {
    /// The public type's name, for `Debug`.
    const NAME: &'static str;
    fn id(&self) -> StreamId;
    /// Ends this half with `code`: a reset for the sending half, STOP_SENDING for the other.
    fn end(&mut self, code: VarInt) -> Result<(), ClosedStream>;
}

impl Half for quinn::SendStream {
    const NAME: &'static str = "SendStream";
    fn id(&self) -> StreamId {
        quinn::SendStream::id(self)
    }
    fn end(&mut self, code: VarInt) -> Result<(), ClosedStream> {
        self.reset(code)
    }
}

impl Half for quinn::RecvStream {
    const NAME: &'static str = "RecvStream";
    fn id(&self) -> StreamId {
        quinn::RecvStream::id(self)
    }
    fn end(&mut self, code: VarInt) -> Result<(), ClosedStream> {
        self.stop(code)
    }
}

/// What both halves share: the quinn stream, whether the session is gone (then dropping ends
/// the stream with SESSION_GONE), and the permit that counts it against the session's limit.
struct Stream<S: Half> {
    inner: S,
    gone: Arc<AtomicBool>,
    _permit: Option<Arc<OwnedSemaphorePermit>>,
}

impl<S: Half> Stream<S> {
    fn new(inner: S, gone: Arc<AtomicBool>, permit: Option<Arc<OwnedSemaphorePermit>>) -> Self {
        Self {
            inner,
            gone,
            _permit: permit,
        }
    }

    /// Ends the stream with WebTransport application error `code`, mapped into the HTTP/3
    /// error space as the client's WebTransport API expects.
    fn end_with(&mut self, code: u32) -> Result<(), ClosedStream> {
        self.inner.end(http3_error_code(code))
    }
}

impl<S: Half> fmt::Debug for Stream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(S::NAME)
            .field("id", &self.inner.id())
            .finish_non_exhaustive()
    }
}

impl<S: Half> Drop for Stream<S> {
    fn drop(&mut self) {
        if self.gone.load(Ordering::Acquire) {
            let _ = self.inner.end(code(SESSION_GONE));
        }
    }
}

/// The sending half of a WebTransport stream, reset when its session ends; also an
/// [`AsyncWrite`].
#[derive(Debug)]
pub struct SendStream(Stream<quinn::SendStream>);

impl SendStream {
    pub(crate) fn new(
        inner: quinn::SendStream,
        gone: Arc<AtomicBool>,
        permit: Option<Arc<OwnedSemaphorePermit>>,
    ) -> Self {
        Self(Stream::new(inner, gone, permit))
    }

    /// Writes bytes from `buf`, returning how many were written (see
    /// [`quinn::SendStream::write`]).
    pub async fn write(&mut self, buf: &[u8]) -> Result<usize, WriteError> {
        self.0.inner.write(buf).await
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> Result<(), WriteError> {
        self.0.inner.write_all(buf).await
    }

    /// Writes `buf` without copying it.
    pub async fn write_chunk(&mut self, buf: Bytes) -> Result<(), WriteError> {
        self.0.inner.write_chunk(buf).await
    }

    /// Ends the stream cleanly once what was written is delivered (see
    /// [`quinn::SendStream::finish`]).
    pub fn finish(&mut self) -> Result<(), ClosedStream> {
        self.0.inner.finish()
    }

    /// Resets the stream with WebTransport application error `code` (mapped into the HTTP/3
    /// error space, as the client's WebTransport API expects).
    pub fn reset_with(&mut self, code: u32) -> Result<(), ClosedStream> {
        self.0.end_with(code)
    }

    /// Completes once the client has received everything or stopped the stream, with the
    /// STOP_SENDING code if it stopped it (see [`quinn::SendStream::stopped`]).
    pub fn stopped(
        &self,
    ) -> impl Future<Output = Result<Option<VarInt>, StoppedError>> + Send + Sync + 'static {
        self.0.inner.stopped()
    }

    /// Sets the priority of this stream against the connection's others (higher first).
    pub fn set_priority(&self, priority: i32) -> Result<(), ClosedStream> {
        self.0.inner.set_priority(priority)
    }

    /// The QUIC stream id.
    pub fn id(&self) -> StreamId {
        self.0.inner.id()
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.0.inner), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.0.inner), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.0.inner), cx)
    }
}

/// The receiving half of a WebTransport stream, stopped when its session ends; also an
/// [`AsyncRead`].
#[derive(Debug)]
pub struct RecvStream(Stream<quinn::RecvStream>);

impl RecvStream {
    pub(crate) fn new(
        inner: quinn::RecvStream,
        gone: Arc<AtomicBool>,
        permit: Option<Arc<OwnedSemaphorePermit>>,
    ) -> Self {
        Self(Stream::new(inner, gone, permit))
    }

    /// Reads into `buf`: how many bytes, or `None` at the end of the stream (see
    /// [`quinn::RecvStream::read`]).
    pub async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        self.0.inner.read(buf).await
    }

    /// Fills `buf` exactly.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ReadExactError> {
        self.0.inner.read_exact(buf).await
    }

    /// Reads the next chunk of at most `max_length` bytes without copying, in order if
    /// `ordered`; `None` at the end of the stream.
    pub async fn read_chunk(
        &mut self,
        max_length: usize,
        ordered: bool,
    ) -> Result<Option<Chunk>, ReadError> {
        self.0.inner.read_chunk(max_length, ordered).await
    }

    /// Reads the rest of the stream, failing once it is longer than `size_limit` bytes.
    pub async fn read_to_end(&mut self, size_limit: usize) -> Result<Vec<u8>, ReadToEndError> {
        self.0.inner.read_to_end(size_limit).await
    }

    /// Asks the client to stop sending, with WebTransport application error `code` (mapped
    /// into the HTTP/3 error space).
    pub fn stop_with(&mut self, code: u32) -> Result<(), ClosedStream> {
        self.0.end_with(code)
    }

    /// The QUIC stream id.
    pub fn id(&self) -> StreamId {
        self.0.inner.id()
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        AsyncRead::poll_read(Pin::new(&mut self.0.inner), cx, buf)
    }
}
