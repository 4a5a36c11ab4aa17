//! WebSockets over HTTP/3 (RFC 9220), served by the app's own WebSocket route.
//!
//! A client that speaks RFC 9220 opens a WebSocket with an extended CONNECT (`:protocol
//! websocket`) on a request stream, once the server's SETTINGS said
//! SETTINGS_ENABLE_CONNECT_PROTOCOL = 1. The handler gets the request as it came (method
//! `CONNECT`, version HTTP/3, `hyper::ext::Protocol` of `websocket`, as HTTP/2 WebSockets
//! reach it through hyper), with a `hyper::upgrade::OnUpgrade` in its extensions that a
//! [`pipe`] makes; axum's `WebSocketUpgrade` (on a route written `any(..)`) and other
//! `hyper::upgrade::on` users answer it as they answer HTTP/2. A 2xx answer opens the tunnel
//! ([`tunnel`]); any other answer is sent as it is.

mod pipe;
mod tunnel;

use http::{header, Request, StatusCode};
use twinport::transport::request::{RequestGuard, WebSocketConnect};
use twinport::transport::ErrorChain;
use twinport::{transport::HttpService, ConnectionInfo};

use self::pipe::UpgradePipe;
use crate::body::RecvBody;
use crate::connection::context::Ctx;
use crate::request::respond::{strip_connection_fields, Outcome, Responder};

static HTTP3_WEBSOCKETS: WebSocketConnect = WebSocketConnect {
    protocol: "HTTP/3 (RFC 9220)",
    turn_off: "Http3Config::websockets(false)",
};

/// Whether `protocol` (an extended CONNECT's `:protocol`) is a WebSocket's.
pub(crate) fn is_websocket(protocol: &[u8]) -> bool {
    protocol.eq_ignore_ascii_case(b"websocket")
}

/// Serves an extended CONNECT for a WebSocket: the handler answers it, a 2xx opens the
/// tunnel.
pub(crate) async fn serve<S>(
    ctx: &Ctx,
    service: S,
    req: Request<RecvBody>,
    mut responder: Responder,
    info: ConnectionInfo,
) -> Outcome
where
    S: HttpService<RecvBody>,
{
    let (mut parts, mut body) = req.into_parts();
    let (pipe, on_upgrade) = match UpgradePipe::open().await {
        Ok(opened) => opened,
        Err(e) => {
            tracing::error!(error = %ErrorChain::new(&e), "could not start a WebSocket");
            return responder.status(StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    parts.extensions.insert(on_upgrade);
    parts
        .extensions
        .insert(hyper::ext::Protocol::from_static("websocket"));
    // The handler's request has no body: the stream's bytes are the WebSocket's.
    let req = Request::from_parts(parts, RecvBody::empty());
    let path = req.uri().path().to_owned();
    // A client that stops the stream while the handler works cancels it, as any request.
    let answered = tokio::select! {
        biased;
        answered = RequestGuard::new(service, info).oneshot(req).websocket(&HTTP3_WEBSOCKETS) => answered,
        _ = responder.stream().stopped() => {
            tracing::debug!("the client cancelled the WebSocket before it opened");
            ctx.churned();
            return Outcome::Reset;
        }
    };
    let response = match answered {
        Ok(response) => response,
        Err(never) => match never {},
    };
    answer(ctx, &mut body, responder, pipe, response, &path).await
}

/// Answers the CONNECT with the handler's response: a 2xx opens the tunnel over `pipe`,
/// anything else is sent as it is (or as 500 where HTTP/3 cannot carry it).
async fn answer<B>(
    ctx: &Ctx,
    body: &mut RecvBody,
    mut responder: Responder,
    pipe: UpgradePipe,
    mut response: http::Response<B>,
    path: &str,
) -> Outcome
where
    B: http_body::Body,
{
    let status = response.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // HTTP/3 has no 101 (RFC 9114 §4.5): an HTTP/1.1-only WebSocket library answered.
        tracing::warn!(
            path,
            "an HTTP/3 WebSocket (CONNECT, RFC 9220) got 101 Switching Protocols, which only \
             HTTP/1.1 has: the handler must accept RFC 8441/9220 WebSockets (axum's \
             WebSocketUpgrade does); answering 500"
        );
        return responder.status(StatusCode::INTERNAL_SERVER_ERROR).await;
    }
    if !status.is_success() {
        drop(pipe);
        return responder.send(response, false).await;
    }
    // RFC 9110 §9.3.6: a 2xx to CONNECT has no content, and says no length.
    if !http_body::Body::is_end_stream(response.body_mut()) {
        tracing::warn!(
            path,
            "the handler answered an HTTP/3 WebSocket 2xx with a body, which a CONNECT \
             response cannot carry: the body is dropped (a fallback route written `any`?)"
        );
    }
    let (mut head, _) = response.into_parts();
    strip_connection_fields(&mut head.headers);
    head.headers.remove(header::CONTENT_LENGTH);
    let io = match pipe.accept(status).await {
        Ok(io) => io,
        Err(e) => {
            tracing::error!(error = %ErrorChain::new(&e), "could not open the WebSocket the handler accepted");
            return responder.status(StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    responder.head(status, &head.headers);
    if responder.flush().await.is_err() {
        tracing::debug!("the client went away before its WebSocket opened");
        ctx.churned();
        return Outcome::Reset;
    }
    tracing::debug!("WebSocket open over HTTP/3");
    tunnel::run(ctx, body, &mut responder, io).await
}
