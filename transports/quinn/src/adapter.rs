//! h3's QUIC traits over quinn, for the server side.
//!
//! h3-quinn does the same job, but hides the quinn streams, and the server needs two things
//! from them: to know when a finished response has been acknowledged by the peer (so the
//! connection is never closed before its last response is flushed, the race quic-go had), and
//! to refuse requests above the GOAWAY limit itself (h3 0.0.8 compares with `>` where RFC 9114
//! §5.2 means `>=`).
//!
//! With WebTransport on, it also reads the first bytes of every new stream: WebTransport
//! streams go to their session (see [`crate::webtransport`]) and never reach h3; the others
//! are handed to h3 with those bytes put back in front.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};
use quinn::VarInt;
use twinport::WriteStall;

use crate::codes::{H3_REQUEST_CANCELLED, H3_REQUEST_REJECTED};
use crate::webtransport::{self, Registry};

/// quinn's `SendStream::stopped`: `Ok(Some(code))` when the client sends STOP_SENDING,
/// `Ok(None)` once the finished stream is acknowledged, an error when the connection is lost.
/// For a stream reset by this side it may never complete once polled (quinn frees such a
/// stream without waking it), so only finished streams are waited for.
pub(crate) type Stopped = BoxFuture<'static, Result<Option<VarInt>, quinn::StoppedError>>;

/// State shared between a connection's adapter and its serving task.
pub(crate) struct Shared {
    /// Request streams with an id at or above this are refused; `u64::MAX` until GOAWAY.
    goaway_limit: AtomicU64,
    /// The highest client bidirectional stream id accepted so far, plus one (0: none yet).
    last_accepted: AtomicU64,
    /// For each request stream not yet taken by its task: the stream's [`Stopped`] future,
    /// which the task uses both to see the client cancel and to wait for the acknowledgement
    /// of its response.
    stops: Mutex<HashMap<u64, Stopped>>,
    /// Finished streams whose acknowledgement may still be outstanding, waited for when the
    /// connection closes. Nobody polls them while the connection serves (a wake-up per
    /// response would cost more than the rest of a small request); they are pruned as they
    /// pile up.
    unacked: Mutex<Unacked>,
    /// How long a response write may wait for flow-control credit (or acknowledgements)
    /// before its stream is reset; `None`: forever.
    write_stall: Option<Duration>,
}

/// Finished streams, and the length at which they are next pruned.
struct Unacked {
    streams: Vec<Stopped>,
    prune_at: usize,
}

/// Below this many finished streams, no pruning.
const PRUNE_MIN: usize = 64;

impl Shared {
    fn new(write_stall: Option<Duration>) -> Self {
        Self {
            write_stall,
            goaway_limit: AtomicU64::new(u64::MAX),
            last_accepted: AtomicU64::new(0),
            stops: Mutex::new(HashMap::new()),
            unacked: Mutex::new(Unacked {
                streams: Vec::new(),
                prune_at: PRUNE_MIN,
            }),
        }
    }

    /// Keeps a finished stream's [`Stopped`] future until the connection closes. When they
    /// pile up, the acknowledged ones are dropped (one poll each); the threshold doubles with
    /// what remains, so pruning costs O(1) per stream.
    pub(crate) fn awaiting_ack(&self, stopped: Stopped) {
        let mut unacked = self.unacked.lock().unwrap_or_else(PoisonError::into_inner);
        if unacked.streams.len() >= unacked.prune_at {
            unacked
                .streams
                .retain_mut(|s| s.as_mut().now_or_never().is_none());
            unacked.prune_at = (unacked.streams.len() * 2).max(PRUNE_MIN);
        }
        unacked.streams.push(stopped);
    }

    /// The finished streams whose acknowledgement may still be outstanding, each a future
    /// that completes when it arrives (or the stream is stopped, or the connection is lost).
    pub(crate) fn take_unacked(&self) -> Vec<Stopped> {
        let mut unacked = self.unacked.lock().unwrap_or_else(PoisonError::into_inner);
        unacked.prune_at = PRUNE_MIN;
        std::mem::take(&mut unacked.streams)
    }

    fn stops(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Stopped>> {
        self.stops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Request stream `id`'s [`Stopped`] future, once per stream. Whoever takes it owns the
    /// wait for the response's acknowledgement (the adapter reports only other streams'
    /// finishes to [`Shared::awaiting_ack`]).
    pub(crate) fn take_stopped(&self, id: u64) -> Option<Stopped> {
        self.stops().remove(&id)
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
/// A new stream whose first bytes are being read; `None` when it went to a session.
type Classifying<S> = BoxFuture<'static, Option<S>>;

/// Where WebTransport streams go, and how long a new stream may take to say what it is.
pub(crate) struct WebTransportRouting {
    pub(crate) registry: Arc<Registry>,
    pub(crate) header_timeout: Duration,
}

/// A quinn connection as h3 sees it.
pub(crate) struct Connection {
    conn: quinn::Connection,
    shared: Arc<Shared>,
    accept_bi: Option<AcceptBi>,
    accept_uni: Option<AcceptUni>,
    opener: Opener,
    wt: Option<Arc<WebTransportRouting>>,
    classifying_bi: FuturesUnordered<Classifying<BidiStream>>,
    classifying_uni: FuturesUnordered<Classifying<RecvStream>>,
}

impl Connection {
    /// Wraps `conn`; `wt`, when set, routes WebTransport streams to their sessions;
    /// `write_stall` bounds how long a write on a request stream may make no progress.
    pub(crate) fn new(
        conn: quinn::Connection,
        wt: Option<Arc<WebTransportRouting>>,
        write_stall: Option<Duration>,
    ) -> (Self, Arc<Shared>) {
        let shared = Arc::new(Shared::new(write_stall));
        let opener = Opener {
            conn: conn.clone(),
            shared: shared.clone(),
            open_bi: None,
            open_uni: None,
        };
        (
            Self {
                conn,
                shared: shared.clone(),
                accept_bi: None,
                accept_uni: None,
                opener,
                wt,
                classifying_bi: FuturesUnordered::new(),
                classifying_uni: FuturesUnordered::new(),
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
        loop {
            while let Poll::Ready(Some(classified)) = self.classifying_uni.poll_next_unpin(cx) {
                if let Some(stream) = classified {
                    return Poll::Ready(Ok(stream));
                }
            }
            let fut = self.accept_uni.get_or_insert_with(|| {
                let conn = self.conn.clone();
                Box::pin(async move { conn.accept_uni().await })
            });
            let res = ready!(fut.as_mut().poll(cx));
            self.accept_uni = None;
            let recv = res.map_err(conn_error)?;
            match &self.wt {
                None => return Poll::Ready(Ok(RecvStream::new(recv))),
                Some(wt) => self
                    .classifying_uni
                    .push(Box::pin(classify_uni(recv, wt.clone()))),
            }
        }
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        loop {
            while let Poll::Ready(Some(classified)) = self.classifying_bi.poll_next_unpin(cx) {
                if let Some(stream) = classified {
                    return Poll::Ready(Ok(stream));
                }
            }
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
                let _ = send.reset(H3_REQUEST_REJECTED);
                let _ = recv.stop(H3_REQUEST_REJECTED);
                continue;
            }
            self.shared
                .last_accepted
                .fetch_max(id + 1, Ordering::AcqRel);
            match &self.wt {
                None => {
                    return Poll::Ready(Ok(BidiStream {
                        send: SendStream::request(send, self.shared.clone()),
                        recv: RecvStream::new(recv),
                    }))
                }
                Some(wt) => self.classifying_bi.push(Box::pin(classify_bi(
                    send,
                    recv,
                    self.shared.clone(),
                    wt.clone(),
                ))),
            }
        }
    }

    fn opener(&self) -> Self::OpenStreams {
        Opener {
            conn: self.conn.clone(),
            shared: self.shared.clone(),
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
    shared: Arc<Shared>,
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
                send: SendStream::new(s, self.shared.clone()),
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
            res.map(|s| SendStream::new(s, self.shared.clone()))
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
    shared: Arc<Shared>,
    /// A request stream: its [`Stopped`] future is registered in `shared` until this drops
    /// or the request's task takes it; the task hands it to [`Shared::awaiting_ack`] if the
    /// response was finished.
    request: bool,
    /// On request streams: resets a response the client takes no bytes of.
    stall: Option<WriteStall>,
}

impl SendStream {
    fn new(stream: quinn::SendStream, shared: Arc<Shared>) -> Self {
        Self {
            stream,
            writing: None,
            shared,
            request: false,
            stall: None,
        }
    }

    /// The response side of a request stream: its [`Stopped`] future waits in `shared` for
    /// the request's task, which sees the client cancel with it and waits with it for the
    /// response's acknowledgement. One future per request does both.
    fn request(stream: quinn::SendStream, shared: Arc<Shared>) -> Self {
        shared
            .stops()
            .insert(u64::from(stream.id()), Box::pin(stream.stopped()));
        let stall = shared.write_stall.map(WriteStall::new);
        Self {
            stream,
            writing: None,
            shared,
            request: true,
            stall,
        }
    }
}

/// A response write waited for the whole stall limit: resets its stream.
fn reset_stalled(stream: &mut quinn::SendStream, stalled: std::io::Error) -> StreamErrorIncoming {
    tracing::debug!(error = %stalled, "the client took no bytes of the response; resetting the stream");
    let _ = stream.reset(H3_REQUEST_CANCELLED);
    StreamErrorIncoming::Unknown(Box::new(stalled))
}

impl Drop for SendStream {
    fn drop(&mut self) {
        if self.request {
            self.shared.stops().remove(&u64::from(self.stream.id()));
        }
    }
}

impl quic::SendStream<Bytes> for SendStream {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        if let Some(data) = self.writing.as_mut() {
            while data.has_remaining() {
                let stream = &mut self.stream;
                let written = match self.stall.as_mut() {
                    None => ready!(Pin::new(stream).poll_write(cx, data.chunk())),
                    Some(stall) => {
                        let polled = stall.poll_write(cx, |cx| {
                            Pin::new(&mut *stream).poll_write(cx, data.chunk())
                        });
                        match ready!(polled) {
                            Ok(written) => written,
                            Err(stalled) => {
                                return Poll::Ready(Err(reset_stalled(stream, stalled)))
                            }
                        }
                    }
                };
                let n = written.map_err(write_error)?;
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
        // Let the connection wait for the peer's acknowledgement before it closes. A request
        // stream's task hands in its own future (see `Shared::take_stopped`).
        if res.is_ok() && !self.request {
            self.shared.awaiting_ack(Box::pin(self.stream.stopped()));
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
    /// Bytes read ahead to tell WebTransport streams apart, returned first.
    prefix: Option<Bytes>,
}

impl RecvStream {
    fn new(stream: quinn::RecvStream) -> Self {
        Self {
            stream,
            prefix: None,
        }
    }

    fn with_prefix(stream: quinn::RecvStream, prefix: Bytes) -> Self {
        Self {
            stream,
            prefix: (!prefix.is_empty()).then_some(prefix),
        }
    }
}

/// Reads a new bidirectional stream's first varint: a WebTransport stream goes to its session,
/// anything else (a request) back to h3 with the bytes read put back.
async fn classify_bi(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    shared: Arc<Shared>,
    wt: Arc<WebTransportRouting>,
) -> Option<BidiStream> {
    let mut raw = BytesMut::new();
    let read = tokio::time::timeout(wt.header_timeout, async {
        let kind = webtransport::read_varint(&mut recv, &mut raw).await?;
        if kind == Some(webtransport::BIDI_SIGNAL) {
            let session = webtransport::read_varint(&mut recv, &mut BytesMut::new()).await?;
            return Ok::<_, quinn::ReadExactError>(session.map(Ok));
        }
        Ok(Some(Err(())))
    })
    .await;
    match read {
        Ok(Ok(Some(Ok(session)))) => {
            wt.registry.deliver_bi(session, send, recv);
            None
        }
        // A request (or an empty stream): h3 judges it.
        Ok(Ok(Some(Err(())))) | Ok(Ok(None)) => Some(BidiStream {
            send: SendStream::request(send, shared),
            recv: RecvStream::with_prefix(recv, raw.freeze()),
        }),
        Ok(Err(_)) | Err(_) => {
            let _ = send.reset(H3_REQUEST_REJECTED);
            let _ = recv.stop(H3_REQUEST_REJECTED);
            None
        }
    }
}

/// Reads a new unidirectional stream's type: WebTransport streams go to their session, the
/// others (control, QPACK, ...) to h3 with the type put back.
async fn classify_uni(
    mut recv: quinn::RecvStream,
    wt: Arc<WebTransportRouting>,
) -> Option<RecvStream> {
    let mut raw = BytesMut::new();
    let read = tokio::time::timeout(wt.header_timeout, async {
        let kind = webtransport::read_varint(&mut recv, &mut raw).await?;
        if kind == Some(webtransport::UNI_TYPE) {
            let session = webtransport::read_varint(&mut recv, &mut BytesMut::new()).await?;
            return Ok::<_, quinn::ReadExactError>(session.map(Ok));
        }
        Ok(Some(Err(())))
    })
    .await;
    match read {
        Ok(Ok(Some(Ok(session)))) => {
            wt.registry.deliver_uni(session, recv);
            None
        }
        Ok(Ok(Some(Err(())))) | Ok(Ok(None)) => Some(RecvStream::with_prefix(recv, raw.freeze())),
        Ok(Err(_)) | Err(_) => {
            let _ = recv.stop(H3_REQUEST_REJECTED);
            None
        }
    }
}

impl quic::RecvStream for RecvStream {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Self::Buf>, StreamErrorIncoming>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Ok(Some(prefix)));
        }
        // Hand out quinn's received bytes as they are, without copying: a zeroed buffer per
        // read cost more than the rest of a small request (see BENCHMARKS.md). quinn only
        // reads what flow control let in, so this never reads ahead without bound.
        // `read_chunk` is cancel-safe and only borrows the stream, so a fresh future per poll
        // loses nothing.
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
