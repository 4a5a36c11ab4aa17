//! WebTransport over HTTP/3 (draft-ietf-webtrans-http3, drafts 02 and 07): sessions handed to
//! a [`WebTransportHandler`] registered by path with
//! [`Builder::webtransport`](crate::Builder::webtransport), beside ordinary requests on the
//! same connection. The server's SETTINGS offer draft-02 (SETTINGS_ENABLE_WEBTRANSPORT, what
//! Firefox, aioquic and Chromium by default speak) and draft-07
//! (SETTINGS_WEBTRANSPORT_MAX_SESSIONS, what Chromium with `EnableWebTransportDraft07` and the
//! `wtransport` crate speak); the client's SETTINGS pick the highest both offer
//! ([`WebTransportDraft`], [`WebTransportSession::draft`]), and no WebTransport request or
//! stream is processed before they arrive. A client whose SETTINGS enable neither gets `400`.
//! Draft-13 and later are not offered: they need RESET_STREAM_AT, which quinn does not have.
//! Both drafts share the wire format spoken here (stream signals 0x41/0x54 at the start of a
//! stream, the close and drain capsules, datagrams by quarter stream id, 32-bit application
//! error codes — draft-02 clients know only 0..=255).
//!
//! WebSockets over HTTP/3 (RFC 9220, extended CONNECT with `:protocol websocket`) are served
//! by the `websocket` feature, not here (see
//! [`Http3Config::websockets`](crate::Http3Config::websockets)); an extended CONNECT for a
//! protocol the server does not serve gets `501`.
//!
//! A client opens a session with an extended CONNECT (`:protocol webtransport`) to a
//! registered path; any other path gets `404` and no session. The handler receives a
//! [`WebTransportSession`]: accept and open bidirectional and unidirectional streams, send and
//! receive datagrams, close with a code and a reason, and read the request and its
//! [`ConnectionInfo`](twinport::ConnectionInfo) (with the client certificate verified in the QUIC handshake). Many
//! sessions may share one connection, limited by
//! [`Http3Config::max_webtransport_sessions`](crate::Http3Config::max_webtransport_sessions)
//! and, for streams the client opens,
//! [`Http3Config::max_webtransport_streams`](crate::Http3Config::max_webtransport_streams).
//!
//! When the session ends — the handler returns or calls [`WebTransportSession::close`], the
//! client closes it, or the connection drops — the handler's future is dropped, the streams it
//! still holds are reset with `WEBTRANSPORT_SESSION_GONE`, and streams or datagrams arriving
//! for the session afterwards are refused. A close by the server is the
//! CLOSE_WEBTRANSPORT_SESSION capsule, then the end of the CONNECT stream; the server reads
//! on (discarding) until the client ends its side or a few seconds pass, so that the client
//! sees a clean close with the code and reason.
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
//! The server reads the first bytes of each new stream and hands WebTransport streams to their
//! session by id; a per-connection task routes datagrams by their quarter stream id.

mod draft;
pub(crate) mod registry;
pub(crate) mod serve;
pub(crate) mod session;
mod stream;
pub(crate) mod wire;

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::request::Parts;
use twinport::BoxError;

use crate::codes::H3_ID_ERROR;
use crate::connection::context::Ctx;
use crate::proto::error::ProtoError;

pub use self::draft::WebTransportDraft;
pub use self::session::{CloseInfo, SessionError, WebTransportSession};
pub use self::stream::{RecvStream, SendStream};
pub use self::wire::{app_error_code, http3_error_code};

/// Hands a bidirectional stream the client opened to session `id`, once the client's
/// SETTINGS have come (the drafts: no WebTransport stream is processed before them; a
/// session cannot exist before them either, so a stream whose SETTINGS never come is refused).
pub(crate) async fn deliver_bi(
    ctx: &Ctx,
    id: u64,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) {
    let Some(wt) = ctx.wt.as_ref() else { return };
    if !valid_session_id(ctx, id) {
        return;
    }
    let _ = ctx.client_settings(ctx.config.request_header_timeout).await;
    wt.registry.deliver_bi(id, send, recv);
}

/// [`deliver_bi`] for a unidirectional stream.
pub(crate) async fn deliver_uni(ctx: &Ctx, id: u64, recv: quinn::RecvStream) {
    let Some(wt) = ctx.wt.as_ref() else { return };
    if !valid_session_id(ctx, id) {
        return;
    }
    let _ = ctx.client_settings(ctx.config.request_header_timeout).await;
    wt.registry.deliver_uni(id, recv);
}

/// Whether `id` can name a session, a client-initiated bidirectional stream id; if not, the
/// connection is closed with H3_ID_ERROR (draft-ietf-webtrans-http3 §4).
fn valid_session_id(ctx: &Ctx, id: u64) -> bool {
    if id.is_multiple_of(4) {
        return true;
    }
    ctx.fail(&ProtoError::connection(
        H3_ID_ERROR,
        "a WebTransport stream for a session id no CONNECT stream can have",
    ));
    false
}

/// The registered handlers, by path.
pub(crate) type Routes = Vec<(String, Arc<dyn WebTransportHandler>)>;

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
