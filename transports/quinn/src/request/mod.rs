//! One request stream (RFC 9114 §4.1): its head within the header timeout, then the
//! handler (or a WebTransport session) with the body and the response streamed both ways,
//! cancelled when the client stops the stream.

pub(crate) mod after_trailers;
pub(crate) mod reader;
pub(crate) mod respond;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, StatusCode};
use tracing::Instrument;
use twinport::transport::request::{request_span, RequestGuard};
use twinport::{transport::HttpService, ConnectionInfo};

use self::reader::{Event, ReadFail, RequestReader};
use self::respond::{Outcome, Responder};
use crate::body::RecvBody;
use crate::codes::{
    H3_EXCESSIVE_LOAD, H3_MESSAGE_ERROR, H3_NO_ERROR, H3_REQUEST_INCOMPLETE, H3_REQUEST_REJECTED,
};
use crate::connection::acks::Stopped;
use crate::connection::context::Ctx;
use crate::connection::uni::{read_varint, read_varint_into};
use crate::info;
use crate::proto::frame::WEBTRANSPORT_STREAM;
use crate::proto::message::{self, RequestHead};
use crate::webtransport;

/// What a new bidirectional stream is.
enum Kind {
    /// A request, with the bytes read to tell.
    Request(quinn::RecvStream, Bytes),
    /// A WebTransport stream for session `id`.
    WebTransport(u64, quinn::RecvStream),
}

/// What a new bidirectional stream came to once its start was read.
// Not boxed: it is matched at once, and a box would be an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Opened {
    /// A request whose head has arrived.
    Request(RequestHead, RequestReader),
    /// A stream of WebTransport session `id`.
    WebTransport(u64, quinn::RecvStream),
    /// Nothing more to do: the stream was answered or refused already.
    Done,
}

/// Serves one request stream.
pub(crate) async fn serve<S>(
    ctx: Arc<Ctx>,
    service: S,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) where
    S: HttpService<RecvBody>,
{
    let mut responder = Responder::new(send, &ctx);
    let timeout = ctx.config.request_header_timeout;
    let opened = tokio::time::timeout(timeout, open(&ctx, recv, &mut responder)).await;
    let (head, reader) = match opened {
        Ok(Opened::Request(head, reader)) => (head, reader),
        Ok(Opened::WebTransport(session, recv)) => {
            webtransport::deliver_bi(&ctx, session, responder.into_stream(), recv).await;
            return;
        }
        Ok(Opened::Done) => return,
        Err(_) => {
            tracing::debug!(parent: &ctx.span, "request headers did not arrive in time");
            responder.reset(H3_REQUEST_REJECTED);
            ctx.churned();
            return;
        }
    };
    // Taken before anything is sent, so this task owns the wait for the acknowledgement.
    let mut stopped: Option<Stopped> = Some(Box::pin(responder.stream().stopped()));
    let id = reader.id();
    let req = request(head, reader, &ctx);
    let span = ctx.span.in_scope(|| request_span(&req, Some(id)));
    let outcome = serve_request(&ctx, service, req, responder, &mut stopped)
        .instrument(span)
        .await;
    // Never let the connection close before the client has the whole response: the
    // connection waits for the acknowledgement when it closes. Only for a finished
    // stream: quinn frees a reset one without a word, so its future could wait forever.
    if let (Outcome::Finished, Some(stopped)) = (outcome, stopped) {
        ctx.acks.push(stopped);
    }
    ctx.malformed.take(id);
}

/// Reads the start of a stream: a WebTransport stream's signal, or a request's head.
async fn open(ctx: &Arc<Ctx>, recv: quinn::RecvStream, responder: &mut Responder) -> Opened {
    match classify(ctx, recv).await {
        Some(Kind::WebTransport(id, recv)) => Opened::WebTransport(id, recv),
        Some(Kind::Request(recv, prefix)) => {
            let reader = RequestReader::new(recv, prefix, ctx.clone());
            start(ctx, reader, responder).await
        }
        None => Opened::Done,
    }
}

/// With WebTransport, the first varint says whether a stream is a session's: read exactly
/// that much, so a session gets its stream untouched. Without, every stream is a request.
async fn classify(ctx: &Ctx, mut recv: quinn::RecvStream) -> Option<Kind> {
    if ctx.wt.is_none() {
        return Some(Kind::Request(recv, Bytes::new()));
    }
    let mut prefix = BytesMut::new();
    match read_varint_into(&mut recv, &mut prefix).await {
        Ok(Some(WEBTRANSPORT_STREAM)) => match read_varint(&mut recv).await {
            Ok(Some(id)) => Some(Kind::WebTransport(id, recv)),
            _ => {
                let _ = recv.stop(H3_REQUEST_INCOMPLETE);
                ctx.churned();
                None
            }
        },
        Ok(_) => Some(Kind::Request(recv, prefix.freeze())),
        Err(_) => {
            ctx.churned();
            None
        }
    }
}

/// The request as the handler sees it, its body still on the stream.
fn request(head: RequestHead, reader: RequestReader, ctx: &Ctx) -> Request<RecvBody> {
    let body = RecvBody::new(reader, head.content_length, ctx.config.body_idle_timeout);
    let mut req = Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.headers_mut() = head.headers;
    *req.version_mut() = http::Version::HTTP_3;
    if let Some(protocol) = head.protocol {
        req.extensions_mut().insert(Protocol(protocol));
    }
    req
}

/// The `:protocol` of an extended CONNECT (RFC 9220).
#[derive(Clone, Debug)]
pub(crate) struct Protocol(pub(crate) Bytes);

/// Reads up to the request head; answers malformed ones itself.
async fn start(ctx: &Arc<Ctx>, mut reader: RequestReader, responder: &mut Responder) -> Opened {
    let block = match reader.event().await {
        Ok(Event::Headers(block)) => block,
        // DATA before HEADERS never gets here: the decoder closes the connection on it.
        Ok(Event::End | Event::Data(_)) => {
            reader.stop(H3_REQUEST_INCOMPLETE);
            responder.reset(H3_REQUEST_INCOMPLETE);
            ctx.churned();
            return Opened::Done;
        }
        Err(ReadFail::Proto(e)) if e.code == H3_EXCESSIVE_LOAD && !e.is_connection() => {
            tracing::debug!(parent: &ctx.span, "request header section over the limit");
            let _ = responder
                .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
                .await;
            return Opened::Done;
        }
        Err(ReadFail::Proto(e)) => {
            if !e.is_connection() {
                responder.reset(e.code);
                ctx.churned();
            }
            return Opened::Done;
        }
        Err(_) => {
            responder.reset(H3_REQUEST_INCOMPLETE);
            ctx.churned();
            return Opened::Done;
        }
    };
    match message::decode_request(&block, ctx.config.max_field_section_size) {
        Ok(head) => Opened::Request(head, reader),
        Err(e) if e.is_connection() => {
            ctx.fail(&e);
            Opened::Done
        }
        Err(e) => {
            tracing::debug!(parent: &ctx.span, reason = e.reason, "malformed request");
            // RFC 9114 §4.1.2: a malformed request is a stream error, after a 400 saying so;
            // one over the size limit is not malformed, its 431 says it all.
            let (status, code) = if e.code == H3_EXCESSIVE_LOAD {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, H3_NO_ERROR)
            } else {
                (StatusCode::BAD_REQUEST, e.code)
            };
            if responder.status(status).await.is_finished() && !reader.is_done_now() {
                reader.stop(code);
            }
            Opened::Done
        }
    }
}

/// Whether this connection's SETTINGS offered extended CONNECT, as `server_settings` does:
/// for WebTransport, or for WebSockets when they are served.
fn offers_extended_connect(ctx: &Ctx) -> bool {
    ctx.wt.is_some() || ctx.config.serves_websockets()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Serves a request whose head has arrived. `stopped` is the stream's [`Stopped`] future;
/// it is left `None` once it has resolved.
async fn serve_request<S>(
    ctx: &Arc<Ctx>,
    service: S,
    req: Request<RecvBody>,
    mut responder: Responder,
    stopped: &mut Option<Stopped>,
) -> Outcome
where
    S: HttpService<RecvBody>,
{
    let mut info = info::current(&ctx.info, &ctx.quic);
    if let Some(handshake) = ctx.handshake.as_ref().filter(|h| !h.is_over()) {
        if is_safe(req.method()) {
            info = info.marked_early_data(true);
        } else if !Box::pin(handshake.completed()).await {
            // RFC 8470 §3 lets the server delay a request that is not safe to replay
            // until the handshake completes, which a replayed ClientHello cannot do.
            tracing::debug!("handshake failed under an early request");
            return Outcome::Reset;
        }
    }
    if let Some(protocol) = req.extensions().get::<Protocol>() {
        if !offers_extended_connect(ctx) {
            // RFC 9220 §3 / RFC 8441 §4: `:protocol` without the server's
            // SETTINGS_ENABLE_CONNECT_PROTOCOL makes the request malformed.
            tracing::debug!("extended CONNECT the server did not offer");
            let mut body = req.into_body();
            let outcome = responder.status(StatusCode::BAD_REQUEST).await;
            body.stop(H3_MESSAGE_ERROR);
            return outcome;
        }
        let is_connect = req.method() == Method::CONNECT;
        let is_wt = is_connect && protocol.0.as_ref() == b"webtransport";
        #[cfg(feature = "websocket")]
        let is_ws = is_connect
            && ctx.config.serves_websockets()
            && crate::websocket::is_websocket(&protocol.0);
        return match ctx.wt.as_ref() {
            // Boxed: a session's state would otherwise enlarge every request's task.
            Some(_) if is_wt => {
                Box::pin(webtransport::serve::session(ctx, req, responder, info)).await
            }
            #[cfg(feature = "websocket")]
            _ if is_ws => {
                Box::pin(crate::websocket::serve(ctx, service, req, responder, info)).await
            }
            _ => {
                tracing::debug!("extended CONNECT for a protocol not served");
                responder.status(StatusCode::NOT_IMPLEMENTED).await
            }
        };
    }
    respond(ctx, service, req, responder, info, stopped).await
}

/// Runs the handler and sends its response, dropping both if the client cancels the
/// request first.
async fn respond<S>(
    ctx: &Ctx,
    service: S,
    req: Request<RecvBody>,
    mut responder: Responder,
    info: ConnectionInfo,
    stopped: &mut Option<Stopped>,
) -> Outcome
where
    S: HttpService<RecvBody>,
{
    let head = req.method() == Method::HEAD;
    let guard = RequestGuard::new(service, info);
    // One response future, pinned once: a second call site would reserve room for a second
    // one in this task's state, which is allocated (and copied) per request.
    let mut responding = std::pin::pin!(async move {
        let response = match guard.oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        responder.send(response, head).await
    });
    let Some(watch) = stopped.as_mut() else {
        return responding.await;
    };
    tokio::select! {
        // The response first: a handler that answers at once never registers the watch.
        biased;
        outcome = &mut responding => outcome,
        result = watch => {
            *stopped = None;
            match result {
                // Like hyper on RST_STREAM: a cancelled request drops its handler and body.
                Ok(Some(_)) => {
                    tracing::debug!("the client cancelled the request");
                    ctx.churned();
                    Outcome::Reset
                }
                // The connection is lost: the handler's body reads and the response's
                // writes fail, so it sees the error (and the connection task aborts what
                // is left).
                Ok(None) | Err(_) => responding.await,
            }
        }
    }
}
