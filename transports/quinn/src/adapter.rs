//! h3's QUIC traits over quinn, for the server side.
//!
//! h3-quinn does the same job, but hides the quinn streams, and the server needs two things
//! from them: to know when a finished response has been acknowledged by the peer (so the
//! connection is never closed before its last response is flushed, the race quic-go had), and
//! to refuse requests above the GOAWAY limit itself (h3 0.0.8 compares with `>` where RFC 9114
//! §5.2 means `>=`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::future::BoxFuture;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};
use quinn::VarInt;
use tokio::sync::mpsc;

/// The H3_REQUEST_REJECTED error code (RFC 9114 §8.1).
const H3_REQUEST_REJECTED: u32 = 0x10b;

/// A future that completes when the peer has acknowledged a finished stream (or stopped it).
pub(crate) type Flushed = BoxFuture<'static, ()>;

/// State shared between a connection's adapter and its serving task.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Request streams with an id at or above this are refused; `u64::MAX` until GOAWAY.
    goaway_limit: AtomicU64,
    /// The highest client bidirectional stream id accepted so far, plus one (0: none yet).
    last_accepted: AtomicU64,
}

impl Shared {
    fn new() -> Self {
        Self {
            goaway_limit: AtomicU64::new(u64::MAX),
            last_accepted: AtomicU64::new(0),
        }
    }

    /// Refuses every request stream not yet accepted; returns the GOAWAY id to announce.
    pub(crate) fn close_requests(&self) -> u64 {
        let next = match self.last_accepted.load(Ordering::Acquire) {
            0 => 0,
            n => n - 1 + 4,
        };
        self.goaway_limit.store(next, Ordering::Release);
        next
    }
}

fn conn_error(e: quinn::ConnectionError) -> ConnectionErrorIncoming {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => {
            ConnectionErrorIncoming::ApplicationClose {
                error_code: close.error_code.into_inner(),
            }
        }
        quinn::ConnectionError::TimedOut => ConnectionErrorIncoming::Timeout,
        other => ConnectionErrorIncoming::Undefined(Arc::new(other)),
    }
}

fn write_error(e: quinn::WriteError) -> StreamErrorIncoming {
    match e {
        quinn::WriteError::Stopped(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        quinn::WriteError::ConnectionLost(e) => StreamErrorIncoming::ConnectionErrorIncoming {
            connection_error: conn_error(e),
        },
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

fn read_error(e: quinn::ReadError) -> StreamErrorIncoming {
    match e {
        quinn::ReadError::Reset(code) => StreamErrorIncoming::StreamTerminated {
            error_code: code.into_inner(),
        },
        quinn::ReadError::ConnectionLost(e) => StreamErrorIncoming::ConnectionErrorIncoming {
            connection_error: conn_error(e),
        },
        other => StreamErrorIncoming::Unknown(Box::new(other)),
    }
}

fn stream_id(id: quinn::StreamId) -> StreamId {
    // Both are QUIC varints (< 2^62): quinn never hands out an id h3 cannot hold.
    StreamId::try_from(u64::from(id)).expect("a quinn stream id is a QUIC varint")
}

type AcceptBi =
    BoxFuture<'static, Result<(quinn::SendStream, quinn::RecvStream), quinn::ConnectionError>>;
type AcceptUni = BoxFuture<'static, Result<quinn::RecvStream, quinn::ConnectionError>>;
type OpenUni = BoxFuture<'static, Result<quinn::SendStream, quinn::ConnectionError>>;
type OpenBi = AcceptBi;

/// A quinn connection as h3 sees it.
pub(crate) struct Connection {
    conn: quinn::Connection,
    shared: Arc<Shared>,
    flushed: mpsc::UnboundedSender<Flushed>,
    accept_bi: Option<AcceptBi>,
    accept_uni: Option<AcceptUni>,
    opener: Opener,
}

impl Connection {
    /// Wraps `conn`; every finished response stream sends its acknowledgement future to
    /// `flushed`.
    pub(crate) fn new(
        conn: quinn::Connection,
        flushed: mpsc::UnboundedSender<Flushed>,
    ) -> (Self, Arc<Shared>) {
        let shared = Arc::new(Shared::new());
        let opener = Opener {
            conn: conn.clone(),
            flushed: flushed.clone(),
            open_bi: None,
            open_uni: None,
        };
        (
            Self {
                conn,
                shared: shared.clone(),
                flushed,
                accept_bi: None,
                accept_uni: None,
                opener,
            },
            shared,
        )
    }
}

impl quic::Connection<Bytes> for Connection {
    type RecvStream = RecvStream;
    type OpenStreams = Opener;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::RecvStream, ConnectionErrorIncoming>> {
        let fut = self.accept_uni.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move { conn.accept_uni().await })
        });
        let res = ready!(fut.as_mut().poll(cx));
        self.accept_uni = None;
        Poll::Ready(res.map(RecvStream::new).map_err(conn_error))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        loop {
            let fut = self.accept_bi.get_or_insert_with(|| {
                let conn = self.conn.clone();
                Box::pin(async move { conn.accept_bi().await })
            });
            let res = ready!(fut.as_mut().poll(cx));
            self.accept_bi = None;
            let (mut send, mut recv) = res.map_err(conn_error)?;
            let id = u64::from(send.id());
            if id >= self.shared.goaway_limit.load(Ordering::Acquire) {
                // Above the GOAWAY id: not processed, so the client may retry it elsewhere.
                let _ = send.reset(VarInt::from_u32(H3_REQUEST_REJECTED));
                let _ = recv.stop(VarInt::from_u32(H3_REQUEST_REJECTED));
                continue;
            }
            self.shared
                .last_accepted
                .fetch_max(id + 1, Ordering::AcqRel);
            return Poll::Ready(Ok(BidiStream {
                send: SendStream::new(send, self.flushed.clone()),
                recv: RecvStream::new(recv),
            }));
        }
    }

    fn opener(&self) -> Self::OpenStreams {
        Opener {
            conn: self.conn.clone(),
            flushed: self.flushed.clone(),
            open_bi: None,
            open_uni: None,
        }
    }
}

impl quic::OpenStreams<Bytes> for Connection {
    type BidiStream = BidiStream;
    type SendStream = SendStream;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        self.opener.poll_open_bidi(cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        self.opener.poll_open_send(cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        self.opener.close(code, reason)
    }
}

/// Opens streams on a connection, for h3's control and QPACK streams.
pub(crate) struct Opener {
    conn: quinn::Connection,
    flushed: mpsc::UnboundedSender<Flushed>,
    open_bi: Option<OpenBi>,
    open_uni: Option<OpenUni>,
}

impl quic::OpenStreams<Bytes> for Opener {
    type BidiStream = BidiStream;
    type SendStream = SendStream;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        let fut = self.open_bi.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move { conn.open_bi().await })
        });
        let res = ready!(fut.as_mut().poll(cx));
        self.open_bi = None;
        Poll::Ready(
            res.map(|(s, r)| BidiStream {
                send: SendStream::new(s, self.flushed.clone()),
                recv: RecvStream::new(r),
            })
            .map_err(|e| StreamErrorIncoming::ConnectionErrorIncoming {
                connection_error: conn_error(e),
            }),
        )
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        let fut = self.open_uni.get_or_insert_with(|| {
            let conn = self.conn.clone();
            Box::pin(async move { conn.open_uni().await })
        });
        let res = ready!(fut.as_mut().poll(cx));
        self.open_uni = None;
        Poll::Ready(
            res.map(|s| SendStream::new(s, self.flushed.clone()))
                .map_err(|e| StreamErrorIncoming::ConnectionErrorIncoming {
                    connection_error: conn_error(e),
                }),
        )
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        let code = VarInt::from_u64(code.value()).unwrap_or(VarInt::MAX);
        self.conn.close(code, reason);
    }
}

/// The sending half of a stream.
pub(crate) struct SendStream {
    stream: quinn::SendStream,
    writing: Option<WriteBuf<Bytes>>,
    flushed: mpsc::UnboundedSender<Flushed>,
}

impl SendStream {
    fn new(stream: quinn::SendStream, flushed: mpsc::UnboundedSender<Flushed>) -> Self {
        Self {
            stream,
            writing: None,
            flushed,
        }
    }
}

impl quic::SendStream<Bytes> for SendStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        if let Some(data) = self.writing.as_mut() {
            while data.has_remaining() {
                let n = ready!(Pin::new(&mut self.stream).poll_write(cx, data.chunk()))
                    .map_err(write_error)?;
                data.advance(n);
            }
        }
        self.writing = None;
        Poll::Ready(Ok(()))
    }

    fn send_data<T: Into<WriteBuf<Bytes>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        if self.writing.is_some() {
            return Err(StreamErrorIncoming::ConnectionErrorIncoming {
                connection_error: ConnectionErrorIncoming::InternalError(
                    "send_data called before the previous write finished".to_owned(),
                ),
            });
        }
        self.writing = Some(data.into());
        Ok(())
    }

    fn poll_finish(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        let res = self
            .stream
            .finish()
            .map_err(|e| StreamErrorIncoming::Unknown(Box::new(e)));
        if res.is_ok() {
            // Let the connection wait for the peer's acknowledgement before it closes.
            let stopped = self.stream.stopped();
            let _ = self.flushed.send(Box::pin(async move {
                let _ = stopped.await;
            }));
        }
        Poll::Ready(res)
    }

    fn reset(&mut self, reset_code: u64) {
        let _ = self
            .stream
            .reset(VarInt::from_u64(reset_code).unwrap_or(VarInt::MAX));
    }

    fn send_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

/// The receiving half of a stream.
pub(crate) struct RecvStream {
    stream: quinn::RecvStream,
}

impl RecvStream {
    fn new(stream: quinn::RecvStream) -> Self {
        Self { stream }
    }
}

impl quic::RecvStream for RecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Self::Buf>, StreamErrorIncoming>> {
        // Hand out quinn's received bytes as they are, without copying: a 64 KiB zeroed buffer
        // per read cost more than the rest of a small request (see BENCHMARKS.md). quinn
        // defragments over-allocated receive buffers itself. `read_chunk` is cancel-safe and
        // only borrows the stream, so a fresh future per poll loses nothing.
        let read = self.stream.read_chunk(usize::MAX, true);
        let chunk = ready!(std::pin::pin!(read).poll(cx)).map_err(read_error)?;
        Poll::Ready(Ok(chunk.map(|c| c.bytes)))
    }

    fn stop_sending(&mut self, error_code: u64) {
        let _ = self
            .stream
            .stop(VarInt::from_u64(error_code).unwrap_or(VarInt::MAX));
    }

    fn recv_id(&self) -> StreamId {
        stream_id(self.stream.id())
    }
}

/// Both halves of a request stream.
pub(crate) struct BidiStream {
    send: SendStream,
    recv: RecvStream,
}

impl quic::BidiStream<Bytes> for BidiStream {
    type SendStream = SendStream;
    type RecvStream = RecvStream;

    fn split(self) -> (Self::SendStream, Self::RecvStream) {
        (self.send, self.recv)
    }
}

impl quic::SendStream<Bytes> for BidiStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<Bytes>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code)
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

impl quic::RecvStream for BidiStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Self::Buf>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.recv.stop_sending(error_code)
    }

    fn recv_id(&self) -> StreamId {
        self.recv.recv_id()
    }
}
