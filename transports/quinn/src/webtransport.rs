//! WebTransport over HTTP/3 (draft-ietf-webtrans-http3-02, the version Chromium and aioquic
//! speak): sessions handed to a [`WebTransportHandler`] registered by path with
//! [`Builder::webtransport`](crate::Builder::webtransport), beside ordinary requests on the
//! same connection.
//!
//! A client opens a session with an extended CONNECT (`:protocol webtransport`) to a
//! registered path; any other path gets `404` and no session. The handler receives a
//! [`WebTransportSession`]: accept and open bidirectional and unidirectional streams, send and
//! receive datagrams, close with a code and a reason, and read the request and its
//! [`ConnectionInfo`] (with the client certificate verified in the QUIC handshake). Many
//! sessions may share one connection, limited by
//! [`Http3Config::max_webtransport_sessions`](crate::Http3Config::max_webtransport_sessions)
//! and, for streams the client opens,
//! [`Http3Config::max_webtransport_streams`](crate::Http3Config::max_webtransport_streams).
//!
//! When the session ends — the handler returns or calls [`WebTransportSession::close`], the
//! client closes it, or the connection drops — the handler's future is dropped, the streams it
//! still holds are reset with `WEBTRANSPORT_SESSION_GONE`, and streams or datagrams arriving
//! for the session afterwards are refused.
//!
//! ```
//! use twinport_quinn::webtransport::WebTransportSession;
//!
//! /// Echoes every bidirectional stream.
//! async fn echo(session: WebTransportSession) -> Result<(), twinport::BoxError> {
//!     while let Some((mut send, mut recv)) = session.accept_bi().await {
//!         let data = recv.read_to_end(64 * 1024).await?;
//!         send.write_all(&data).await?;
//!         send.finish()?;
//!     }
//!     Ok(())
//! }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! # let tls = twinport::ServerTls::from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?;
//! let endpoint = twinport_quinn::Http3::builder(&tls)
//!     .http3()
//!     .webtransport("/wt/echo", echo)
//!     .bind("127.0.0.1:0".parse()?)?;
//! # let _ = endpoint; Ok(()) }
//! ```
//!
//! Why not the h3-webtransport crate: its session (0.1.2, for h3 0.0.8) takes the whole h3
//! connection, so a connection carries one session, and its stream and datagram readers do not
//! tell sessions apart. Here the QUIC adapter reads the first bytes of each new stream and
//! hands WebTransport streams to their session by id before h3 sees them, and a per-connection
//! task routes datagrams by their quarter stream id.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::BoxFuture;
use http::request::Parts;
use quinn::VarInt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use twinport::{BoxError, ConnectionInfo, Shutdown};

/// The HTTP/3 frame type that starts a WebTransport bidirectional stream.
pub(crate) const BIDI_SIGNAL: u64 = 0x41;
/// The unidirectional stream type of a WebTransport stream.
pub(crate) const UNI_TYPE: u64 = 0x54;
/// The capsule that closes a session, with a code and a reason.
pub(crate) const CLOSE_CAPSULE: u64 = 0x2843;
/// The capsule that asks the client to wrap the session up (the server is draining).
pub(crate) const DRAIN_CAPSULE: u64 = 0x78ae;
/// Resets streams of a session that is gone.
pub(crate) const SESSION_GONE: u32 = 0x170d_7b68;
/// Refuses streams for an unknown session or above the per-session limit.
pub(crate) const STREAM_REJECTED: u32 = 0x3994_bd84;
/// How many received datagrams wait for the handler before new ones are dropped.
const DATAGRAM_QUEUE: usize = 256;
/// The longest close reason the draft allows, in bytes.
const MAX_REASON: usize = 1024;

// ---------------------------------------------------------------------------------------------
// QUIC variable-length integers (RFC 9000 §16).

/// Appends `v` (< 2^62) as a QUIC varint.
pub(crate) fn put_varint(buf: &mut BytesMut, v: u64) {
    if v < 1 << 6 {
        buf.put_u8(v as u8);
    } else if v < 1 << 14 {
        buf.put_u16(0x4000 | v as u16);
    } else if v < 1 << 30 {
        buf.put_u32(0x8000_0000 | v as u32);
    } else {
        buf.put_u64(0xc000_0000_0000_0000 | v);
    }
}

/// Reads a QUIC varint from the front of `buf`, or `None` if it is incomplete.
pub(crate) fn get_varint(buf: &mut impl Buf) -> Option<u64> {
    if !buf.has_remaining() {
        return None;
    }
    let len = 1usize << (buf.chunk()[0] >> 6);
    if buf.remaining() < len {
        return None;
    }
    let mut v = u64::from(buf.get_u8() & 0x3f);
    for _ in 1..len {
        v = (v << 8) | u64::from(buf.get_u8());
    }
    Some(v)
}

/// Reads one varint from a QUIC stream, appending its bytes to `raw`. `None` at the end of the
/// stream.
pub(crate) async fn read_varint(
    recv: &mut quinn::RecvStream,
    raw: &mut BytesMut,
) -> Result<Option<u64>, quinn::ReadExactError> {
    let mut first = [0u8; 1];
    match recv.read_exact(&mut first).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = 1usize << (first[0] >> 6);
    let mut rest = [0u8; 7];
    recv.read_exact(&mut rest[..len - 1]).await?;
    let start = raw.len();
    raw.put_u8(first[0]);
    raw.put_slice(&rest[..len - 1]);
    Ok(get_varint(&mut &raw[start..]))
}

fn code(v: u32) -> VarInt {
    VarInt::from_u32(v)
}

/// The first HTTP/3 error code of the range WebTransport application codes map into.
const APP_CODE_FIRST: u64 = 0x52e4_a40f_a8db;

/// The HTTP/3 error code that carries WebTransport application error `code` in a stream reset
/// or STOP_SENDING (the draft skips the reserved codes `0x1f * N + 0x21`).
pub fn http3_error_code(code: u32) -> VarInt {
    let code = u64::from(code);
    // At most 0x52e4a40fa8db + 2^32 + 2^32/30: always a varint.
    VarInt::from_u64(APP_CODE_FIRST + code + code / 0x1e).unwrap_or(VarInt::MAX)
}

/// The WebTransport application error code an HTTP/3 error code carries, if it is one
/// (the inverse of [`http3_error_code`]), e.g. for a [`quinn::ReadError::Reset`] code.
pub fn app_error_code(http3: VarInt) -> Option<u32> {
    let shifted = http3.into_inner().checked_sub(APP_CODE_FIRST)?;
    if shifted % 0x1f == 0x1e {
        return None;
    }
    u32::try_from(shifted - shifted / 0x1f).ok()
}

// ---------------------------------------------------------------------------------------------
// Routing streams and datagrams to sessions.

/// The registered handlers, by path.
pub(crate) type Routes = Vec<(String, Arc<dyn WebTransportHandler>)>;

struct Entry {
    bi: mpsc::UnboundedSender<(SendStream, RecvStream)>,
    uni: mpsc::UnboundedSender<RecvStream>,
    datagrams: mpsc::Sender<Bytes>,
    streams: Arc<Semaphore>,
    gone: Arc<AtomicBool>,
}

/// The live sessions of one connection, by session id (the CONNECT stream's id).
pub(crate) struct Registry {
    sessions: Mutex<HashMap<u64, Entry>>,
    max_sessions: usize,
    max_streams: usize,
}

/// What a registered session reads from.
pub(crate) struct Inbox {
    bi: mpsc::UnboundedReceiver<(SendStream, RecvStream)>,
    uni: mpsc::UnboundedReceiver<RecvStream>,
    datagrams: mpsc::Receiver<Bytes>,
    gone: Arc<AtomicBool>,
}

/// Unregisters a session when dropped; its streams still held then are reset.
pub(crate) struct Registration {
    registry: Arc<Registry>,
    id: u64,
    gone: Arc<AtomicBool>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.gone.store(true, Ordering::Release);
        if let Ok(mut sessions) = self.registry.sessions.lock() {
            sessions.remove(&self.id);
        }
    }
}

impl Registry {
    pub(crate) fn new(max_sessions: usize, max_streams: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
            max_streams,
        }
    }

    /// Registers session `id`, or `None` when the connection has as many as it may.
    pub(crate) fn register(self: &Arc<Self>, id: u64) -> Option<(Registration, Inbox)> {
        let mut sessions = self.sessions.lock().ok()?;
        if sessions.len() >= self.max_sessions || sessions.contains_key(&id) {
            return None;
        }
        let (bi_tx, bi) = mpsc::unbounded_channel();
        let (uni_tx, uni) = mpsc::unbounded_channel();
        let (dg_tx, datagrams) = mpsc::channel(DATAGRAM_QUEUE);
        let gone = Arc::new(AtomicBool::new(false));
        sessions.insert(
            id,
            Entry {
                bi: bi_tx,
                uni: uni_tx,
                datagrams: dg_tx,
                streams: Arc::new(Semaphore::new(self.max_streams)),
                gone: gone.clone(),
            },
        );
        let reg = Registration {
            registry: self.clone(),
            id,
            gone: gone.clone(),
        };
        Some((
            reg,
            Inbox {
                bi,
                uni,
                datagrams,
                gone,
            },
        ))
    }

    /// A permit for one more stream of session `id`, and the session's "gone" flag.
    fn admit(&self, id: u64) -> Option<(OwnedSemaphorePermit, Arc<AtomicBool>)> {
        let sessions = self.sessions.lock().ok()?;
        let entry = sessions.get(&id)?;
        let permit = entry.streams.clone().try_acquire_owned().ok()?;
        Some((permit, entry.gone.clone()))
    }

    /// Hands a bidirectional stream the client opened to session `id`.
    pub(crate) fn deliver_bi(
        &self,
        id: u64,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) {
        let Some((permit, gone)) = self.admit(id) else {
            let _ = send.reset(code(STREAM_REJECTED));
            let _ = recv.stop(code(STREAM_REJECTED));
            return;
        };
        let permit = Arc::new(permit);
        let pair = (
            SendStream::new(send, gone.clone(), Some(permit.clone())),
            RecvStream::new(recv, gone, Some(permit)),
        );
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&id) {
                // A closed receiver drops the pair, which resets it.
                let _ = entry.bi.send(pair);
            }
        }
    }

    /// Hands a unidirectional stream the client opened to session `id`.
    pub(crate) fn deliver_uni(&self, id: u64, mut recv: quinn::RecvStream) {
        let Some((permit, gone)) = self.admit(id) else {
            let _ = recv.stop(code(STREAM_REJECTED));
            return;
        };
        let stream = RecvStream::new(recv, gone, Some(Arc::new(permit)));
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&id) {
                let _ = entry.uni.send(stream);
            }
        }
    }

    /// Hands a datagram to its session; unknown sessions' and overflowing datagrams are
    /// dropped (datagrams are unreliable anyway).
    pub(crate) fn deliver_datagram(&self, mut datagram: Bytes) {
        let Some(quarter) = get_varint(&mut datagram) else {
            return;
        };
        let Some(id) = quarter.checked_mul(4) else {
            return;
        };
        if let Ok(sessions) = self.sessions.lock() {
            if let Some(entry) = sessions.get(&id) {
                let _ = entry.datagrams.try_send(datagram);
            }
        }
    }
}

/// Routes the connection's datagrams to its sessions until the connection ends.
pub(crate) async fn route_datagrams(conn: quinn::Connection, registry: Arc<Registry>) {
    while let Ok(datagram) = conn.read_datagram().await {
        registry.deliver_datagram(datagram);
    }
}

// ---------------------------------------------------------------------------------------------
// Streams.

/// The sending half of a WebTransport stream: a [`quinn::SendStream`] (all its methods are
/// available through `Deref`) that is reset when its session ends.
pub struct SendStream {
    inner: quinn::SendStream,
    gone: Arc<AtomicBool>,
    _permit: Option<Arc<OwnedSemaphorePermit>>,
}

impl SendStream {
    fn new(
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
    fn new(
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

// ---------------------------------------------------------------------------------------------
// Sessions.

/// Why a session could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session has ended (closed by either side, or its connection is gone).
    #[error("the WebTransport session is closed")]
    Closed,
    /// The QUIC connection failed.
    #[error("the connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing a new stream's header failed.
    #[error("could not start the stream: {0}")]
    Write(#[from] quinn::WriteError),
    /// A datagram could not be sent (too large, or the client does not take datagrams).
    #[error("could not send the datagram: {0}")]
    Datagram(#[from] quinn::SendDatagramError),
}

/// How a session ended, as the peer or the handler said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseInfo {
    /// The application's error code (0 when none was given).
    pub code: u32,
    /// The reason, at most 1024 bytes.
    pub reason: String,
}

/// One WebTransport session, handed to a [`WebTransportHandler`]: its streams, its datagrams,
/// the CONNECT request that opened it and the connection's [`ConnectionInfo`].
///
/// Methods take `&self`, so the session can be shared (e.g. in an `Arc`) between tasks that
/// accept streams and datagrams at the same time.
pub struct WebTransportSession {
    id: u64,
    conn: quinn::Connection,
    request: Parts,
    info: ConnectionInfo,
    protocol: Option<String>,
    shutdown: Shutdown,
    bi: tokio::sync::Mutex<mpsc::UnboundedReceiver<(SendStream, RecvStream)>>,
    uni: tokio::sync::Mutex<mpsc::UnboundedReceiver<RecvStream>>,
    datagrams: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    gone: Arc<AtomicBool>,
    close: Mutex<Option<oneshot::Sender<CloseInfo>>>,
}

impl fmt::Debug for WebTransportSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebTransportSession")
            .field("id", &self.id)
            .field("path", &self.request.uri.path())
            .field("protocol", &self.protocol)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl WebTransportSession {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: u64,
        conn: quinn::Connection,
        request: Parts,
        info: ConnectionInfo,
        protocol: Option<String>,
        shutdown: Shutdown,
        inbox: Inbox,
        close: oneshot::Sender<CloseInfo>,
    ) -> Self {
        Self {
            id,
            conn,
            request,
            info,
            protocol,
            shutdown,
            bi: tokio::sync::Mutex::new(inbox.bi),
            uni: tokio::sync::Mutex::new(inbox.uni),
            datagrams: tokio::sync::Mutex::new(inbox.datagrams),
            gone: inbox.gone,
            close: Mutex::new(Some(close)),
        }
    }

    /// The session id: the id of the QUIC stream that carried the CONNECT request.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The CONNECT request that opened the session (method, URI, headers; its extensions hold
    /// the [`ConnectionInfo`] too).
    pub fn request(&self) -> &Parts {
        &self.request
    }

    /// The connection's info as of the CONNECT request: addresses, ALPN, SNI, and the client
    /// certificate verified in the QUIC handshake.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The sub-protocol the handler picked from those the client offered, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The server's shutdown signal: when [`Shutdown::draining`] completes, wrap up before its
    /// deadline.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// The next bidirectional stream the client opened, or `None` once the session is over.
    pub async fn accept_bi(&self) -> Option<(SendStream, RecvStream)> {
        self.bi.lock().await.recv().await
    }

    /// The next unidirectional stream the client opened, or `None` once the session is over.
    pub async fn accept_uni(&self) -> Option<RecvStream> {
        self.uni.lock().await.recv().await
    }

    /// The next datagram from the client, or `None` once the session is over. Datagrams that
    /// arrive while 256 are waiting are dropped.
    pub async fn read_datagram(&self) -> Option<Bytes> {
        self.datagrams.lock().await.recv().await
    }

    /// Opens a bidirectional stream to the client.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), SessionError> {
        self.check()?;
        let (mut send, recv) = self.conn.open_bi().await?;
        let mut header = BytesMut::with_capacity(10);
        put_varint(&mut header, BIDI_SIGNAL);
        put_varint(&mut header, self.id);
        send.write_all(&header).await.map_err(write_error)?;
        Ok((
            SendStream::new(send, self.gone.clone(), None),
            RecvStream::new(recv, self.gone.clone(), None),
        ))
    }

    /// Opens a unidirectional stream to the client.
    pub async fn open_uni(&self) -> Result<SendStream, SessionError> {
        self.check()?;
        let mut send = self.conn.open_uni().await?;
        let mut header = BytesMut::with_capacity(10);
        put_varint(&mut header, UNI_TYPE);
        put_varint(&mut header, self.id);
        send.write_all(&header).await.map_err(write_error)?;
        Ok(SendStream::new(send, self.gone.clone(), None))
    }

    /// Sends a datagram to the client (unreliable; at most
    /// [`max_datagram_size`](Self::max_datagram_size) bytes).
    pub fn send_datagram(&self, payload: Bytes) -> Result<(), SessionError> {
        self.check()?;
        let mut datagram = BytesMut::with_capacity(8 + payload.len());
        put_varint(&mut datagram, self.id / 4);
        datagram.extend_from_slice(&payload);
        self.conn.send_datagram(datagram.freeze())?;
        Ok(())
    }

    /// The largest datagram payload the client takes now, or `None` if it takes none.
    pub fn max_datagram_size(&self) -> Option<usize> {
        // The quarter stream id takes up to 8 bytes of each datagram.
        let prefix = if self.id / 4 < 1 << 6 { 1 } else { 8 };
        self.conn
            .max_datagram_size()
            .map(|n| n.saturating_sub(prefix))
    }

    /// Closes the session with `code` and `reason` (cut to 1024 bytes): the client gets a
    /// CLOSE_WEBTRANSPORT_SESSION capsule, then the end of the CONNECT stream. The handler's
    /// future is dropped soon after; returning from the handler closes with code 0.
    pub fn close(&self, code: u32, reason: &str) {
        let mut end = reason.len().min(MAX_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let sender = self.close.lock().ok().and_then(|mut c| c.take());
        if let Some(sender) = sender {
            let _ = sender.send(CloseInfo {
                code,
                reason: reason[..end].to_owned(),
            });
        }
    }

    fn check(&self) -> Result<(), SessionError> {
        if self.is_closed() {
            Err(SessionError::Closed)
        } else {
            Ok(())
        }
    }
}

fn write_error(e: quinn::WriteError) -> SessionError {
    match e {
        quinn::WriteError::ConnectionLost(e) => SessionError::Connection(e),
        other => SessionError::Write(other),
    }
}

/// Encodes a CLOSE_WEBTRANSPORT_SESSION capsule.
pub(crate) fn close_capsule(close: &CloseInfo) -> Bytes {
    let mut value = BytesMut::with_capacity(4 + close.reason.len());
    value.put_u32(close.code);
    value.extend_from_slice(close.reason.as_bytes());
    let mut capsule = BytesMut::with_capacity(value.len() + 16);
    put_varint(&mut capsule, CLOSE_CAPSULE);
    put_varint(&mut capsule, value.len() as u64);
    capsule.extend_from_slice(&value);
    capsule.freeze()
}

/// Encodes a DRAIN_WEBTRANSPORT_SESSION capsule: the server is shutting down.
pub(crate) fn drain_capsule() -> Bytes {
    let mut capsule = BytesMut::with_capacity(4);
    put_varint(&mut capsule, DRAIN_CAPSULE);
    put_varint(&mut capsule, 0);
    capsule.freeze()
}

/// Reads capsules from the CONNECT stream's data, looking for the client's close.
#[derive(Default)]
pub(crate) struct CapsuleReader {
    buf: BytesMut,
    /// Bytes of an uninteresting capsule still to skip.
    skip: usize,
}

impl CapsuleReader {
    /// Adds data; returns `Some` once a CLOSE_WEBTRANSPORT_SESSION capsule is complete. Other
    /// capsules are skipped without being buffered; a close capsule longer than the draft
    /// allows counts as a close without a reason.
    pub(crate) fn push(&mut self, data: &[u8]) -> Option<CloseInfo> {
        self.buf.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return None;
                }
            }
            let mut peek = &self.buf[..];
            let kind = get_varint(&mut peek)?;
            let len = get_varint(&mut peek)?;
            let header = self.buf.len() - peek.len();
            if kind != CLOSE_CAPSULE {
                self.buf.advance(header);
                self.skip = usize::try_from(len).unwrap_or(usize::MAX);
                continue;
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len > 4 + MAX_REASON {
                return Some(CloseInfo::default());
            }
            if peek.len() < len {
                return None;
            }
            let value = &peek[..len];
            if len < 4 {
                return Some(CloseInfo::default());
            }
            let code = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            let reason = String::from_utf8_lossy(&value[4..]).into_owned();
            return Some(CloseInfo { code, reason });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// Serves WebTransport sessions on one path: registered with
/// [`Builder::webtransport`](crate::Builder::webtransport).
///
/// Any `Fn(WebTransportSession) -> impl Future<Output = Result<(), BoxError>>` is a handler;
/// [`Protocols`] adds sub-protocol selection to one.
pub trait WebTransportHandler: Send + Sync + 'static {
    /// Picks one of the sub-protocols the client offered (in its `wt-available-protocols` or
    /// `sec-webtransport-protocol` header), or none. The default picks none.
    fn select_protocol(&self, request: &Parts, offered: &[String]) -> Option<String> {
        let _ = (request, offered);
        None
    }

    /// Serves one session until it is done; returning closes it with code 0. An error is
    /// logged and closes the session with code 1.
    fn handle(&self, session: WebTransportSession) -> BoxFuture<'static, Result<(), BoxError>>;
}

impl<F, Fut> WebTransportHandler for F
where
    F: Fn(WebTransportSession) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn handle(&self, session: WebTransportSession) -> BoxFuture<'static, Result<(), BoxError>> {
        Box::pin(self(session))
    }
}

/// A handler that speaks some sub-protocols: the first of `supported` (in the server's order
/// of preference) that the client offered is picked and sent back in the response.
///
/// ```
/// use twinport_quinn::webtransport::{Protocols, WebTransportSession};
///
/// async fn chat(session: WebTransportSession) -> Result<(), twinport::BoxError> {
///     let _version = session.protocol(); // Some("chat-v2"), Some("chat-v1") or None
///     Ok(())
/// }
/// let handler = Protocols::new(["chat-v2", "chat-v1"], chat);
/// # let _ = handler;
/// ```
#[derive(Clone, Debug)]
pub struct Protocols<H> {
    supported: Vec<String>,
    handler: H,
}

impl<H> Protocols<H> {
    /// Wraps `handler`, which speaks `supported`.
    pub fn new<I, S>(supported: I, handler: H) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            supported: supported.into_iter().map(Into::into).collect(),
            handler,
        }
    }
}

impl<H: WebTransportHandler> WebTransportHandler for Protocols<H> {
    fn select_protocol(&self, _request: &Parts, offered: &[String]) -> Option<String> {
        self.supported.iter().find(|p| offered.contains(p)).cloned()
    }

    fn handle(&self, session: WebTransportSession) -> BoxFuture<'static, Result<(), BoxError>> {
        self.handler.handle(session)
    }
}

/// The sub-protocols a client offered: `wt-available-protocols` is a structured-field list
/// of strings (`"a", "b"`); `sec-webtransport-protocol`, used by older clients, is a plain
/// comma-separated list. Returns them and whether the new header was used.
pub(crate) fn offered_protocols(headers: &http::HeaderMap) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let new = headers.get_all("wt-available-protocols").iter().count() > 0;
    let name = if new {
        "wt-available-protocols"
    } else {
        "sec-webtransport-protocol"
    };
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            // Drop structured-field parameters (";a=b") and the quotes of sf-strings.
            let item = item.split(';').next().unwrap_or_default().trim();
            let item = item
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(item);
            if !item.is_empty() {
                out.push(item.replace("\\\"", "\"").replace("\\\\", "\\"));
            }
        }
    }
    (out, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [
            0,
            63,
            64,
            16383,
            16384,
            (1 << 30) - 1,
            1 << 30,
            (1 << 62) - 1,
        ] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, v);
            let mut b = buf.freeze();
            assert_eq!(get_varint(&mut b), Some(v));
            assert!(b.is_empty());
        }
        assert_eq!(get_varint(&mut &[0x40u8][..]), None);
    }

    #[test]
    fn capsules_parse_across_chunks() {
        let close = CloseInfo {
            code: 7,
            reason: "bye".into(),
        };
        let encoded = close_capsule(&close);
        let mut reader = CapsuleReader::default();
        // An unknown capsule first, then the close capsule split in two.
        assert_eq!(reader.push(&[0x29, 0x02, 0xaa, 0xbb]), None);
        assert_eq!(reader.push(&encoded[..3]), None);
        assert_eq!(reader.push(&encoded[3..]), Some(close));

        // A large unknown capsule is skipped as it streams by, never buffered whole.
        let mut reader = CapsuleReader::default();
        assert_eq!(reader.push(&[0x29, 0x80, 0x01, 0x00, 0x00]), None);
        for _ in 0..16 {
            assert_eq!(reader.push(&[0u8; 4096]), None);
            assert!(reader.buf.len() <= 4096);
        }
        assert_eq!(
            reader.push(&encoded),
            Some(CloseInfo {
                code: 7,
                reason: "bye".into()
            })
        );
    }

    #[test]
    fn application_error_codes_map_both_ways() {
        assert_eq!(http3_error_code(0).into_inner(), 0x52e4_a40f_a8db);
        assert_eq!(http3_error_code(0x1e).into_inner(), 0x52e4_a40f_a8db + 0x1f);
        for code in [0, 1, 0x1d, 0x1e, 0x1f, 1000, u32::MAX] {
            assert_eq!(app_error_code(http3_error_code(code)), Some(code));
        }
        // Reserved (GREASE) codes inside the range and codes outside it carry none.
        assert_eq!(
            app_error_code(VarInt::from_u64(0x52e4_a40f_a8db + 0x1e).unwrap()),
            None
        );
        assert_eq!(app_error_code(VarInt::from_u32(0x100)), None);
    }

    #[test]
    fn the_registry_limits_sessions() {
        let registry = Arc::new(Registry::new(2, 4));
        let a = registry.register(0).unwrap();
        assert!(registry.register(0).is_none(), "the same id twice");
        let _b = registry.register(4).unwrap();
        assert!(registry.register(8).is_none(), "a third session");
        drop(a);
        assert!(registry.register(8).is_some(), "a slot freed by the first");
    }

    #[test]
    fn offered_protocols_from_both_headers() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "wt-available-protocols",
            "\"a\", \"b\";x=1".parse().unwrap(),
        );
        assert_eq!(offered_protocols(&h), (vec!["a".into(), "b".into()], true));
        let mut h = http::HeaderMap::new();
        h.insert("sec-webtransport-protocol", "x, y".parse().unwrap());
        assert_eq!(offered_protocols(&h), (vec!["x".into(), "y".into()], false));
    }
}
