//! [`WebTransportSession`]: what a handler gets for one session.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use tokio::sync::{mpsc, oneshot};
use twinport::{transport::Shutdown, ConnectionInfo};

use super::draft::WebTransportDraft;
use super::registry::Inbox;
use super::stream::{RecvStream, SendStream};
use super::wire::{put_varint, MAX_REASON};
use crate::proto::frame::WEBTRANSPORT_STREAM;
use crate::proto::stream_type;

/// Why a session could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session has ended (closed by either side, or its connection is gone).
    #[error("the WebTransport session is closed")]
    Closed,
    /// The QUIC connection failed.
    #[error("the connection failed")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing a new stream's header failed.
    #[error("could not start the stream")]
    Write(#[from] quinn::WriteError),
    /// A datagram could not be sent (too large, or the client does not take datagrams).
    #[error("could not send the datagram")]
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

/// One WebTransport session, handed to a [`WebTransportHandler`](super::WebTransportHandler): its streams, its datagrams,
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
    draft: WebTransportDraft,
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
            .field("draft", &self.draft)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// What a session is made of, besides its inbox.
pub(crate) struct SessionParts {
    pub(crate) id: u64,
    pub(crate) conn: quinn::Connection,
    pub(crate) request: Parts,
    pub(crate) info: ConnectionInfo,
    pub(crate) protocol: Option<String>,
    pub(crate) draft: WebTransportDraft,
    pub(crate) shutdown: Shutdown,
}

impl WebTransportSession {
    pub(crate) fn new(
        parts: SessionParts,
        inbox: Inbox,
        close: oneshot::Sender<CloseInfo>,
    ) -> Self {
        Self {
            id: parts.id,
            conn: parts.conn,
            request: parts.request,
            info: parts.info,
            protocol: parts.protocol,
            draft: parts.draft,
            shutdown: parts.shutdown,
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

    /// The draft of WebTransport over HTTP/3 the session speaks, chosen from the client's
    /// SETTINGS (the highest both sides offered).
    pub fn draft(&self) -> WebTransportDraft {
        self.draft
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
        put_varint(&mut header, WEBTRANSPORT_STREAM);
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
        put_varint(&mut header, stream_type::WEBTRANSPORT);
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
    /// future is dropped soon after; returning from the handler closes with code 0 (unless
    /// it called `close` first).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_prints_its_cause_once() {
        let lost = quinn::ConnectionError::TimedOut;
        let text = lost.to_string();
        twinport_testkit::errors::assert_cause_once(&SessionError::from(lost), &text);
        let write = quinn::WriteError::ClosedStream;
        let text = write.to_string();
        twinport_testkit::errors::assert_cause_once(&SessionError::from(write), &text);
        let datagram = quinn::SendDatagramError::TooLarge;
        let text = datagram.to_string();
        twinport_testkit::errors::assert_cause_once(&SessionError::from(datagram), &text);
    }
}
