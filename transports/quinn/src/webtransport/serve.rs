//! The CONNECT stream of a WebTransport session: answers the extended CONNECT, runs the
//! handler, reads the client's capsules, and closes the session with a capsule of its own.

use std::future::poll_fn;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tokio::sync::oneshot;
use tracing::Instrument;
use twinport::transport::ErrorChain;
use twinport::{BoxError, ConnectionInfo};

use super::draft::WebTransportDraft;
use super::registry::Registration;
use super::session::{CloseInfo, SessionParts, WebTransportSession};
use super::wire::{close_capsule, drain_capsule, CapsuleReader};
use super::{offered_protocols, WebTransportHandler};
use crate::body::{RecvBody, CLOSE_WAIT};
use crate::codes::H3_MESSAGE_ERROR;
use crate::connection::context::Ctx;
use crate::request::reader::{Event, ReadFail};
use crate::request::respond::{Outcome, Responder};

/// Answers an extended CONNECT for WebTransport and runs the session until either side
/// closes it or the connection drops.
pub(crate) async fn session(
    ctx: &Arc<Ctx>,
    req: Request<RecvBody>,
    mut responder: Responder,
    info: ConnectionInfo,
) -> Outcome {
    match accept(ctx, req, &mut responder, info).await {
        ControlFlow::Continue(open) => run(ctx, open, responder).await,
        ControlFlow::Break(refused) => refused,
    }
}

/// A session whose CONNECT has been answered with 200.
struct Open {
    id: u64,
    handler: Arc<dyn WebTransportHandler>,
    registration: Registration,
    session: WebTransportSession,
    body: RecvBody,
    close_rx: oneshot::Receiver<CloseInfo>,
}

/// Checks a WebTransport CONNECT, negotiates the draft and sub-protocol, and answers it:
/// with 200 for a session that opens, or with the refusal the stream ends with.
async fn accept(
    ctx: &Arc<Ctx>,
    req: Request<RecvBody>,
    responder: &mut Responder,
    info: ConnectionInfo,
) -> ControlFlow<Outcome, Open> {
    let Some(wt) = ctx.wt.as_ref() else {
        return ControlFlow::Break(responder.status(StatusCode::NOT_FOUND).await);
    };
    // RFC 9297 §3.2: a message of the capsule protocol has no content-length or content-type
    // (transfer-encoding is malformed in any HTTP/3 request).
    let headers = req.headers();
    if headers.contains_key(CONTENT_LENGTH) || headers.contains_key(CONTENT_TYPE) {
        tracing::debug!("a WebTransport CONNECT with content-length or content-type");
        let answered = responder.status(StatusCode::BAD_REQUEST).await;
        req.into_body().stop(H3_MESSAGE_ERROR);
        return ControlFlow::Break(answered);
    }
    let path = req.uri().path();
    let Some(handler) = wt
        .routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, h)| h.clone())
    else {
        tracing::debug!(path, "no WebTransport handler on this path");
        return ControlFlow::Break(responder.status(StatusCode::NOT_FOUND).await);
    };
    let draft = negotiate(ctx, responder).await?;
    let id = u64::from(responder.stream().id());
    let Some((registration, inbox)) = wt.registry.register(id) else {
        tracing::debug!("WebTransport session limit reached");
        return ControlFlow::Break(responder.status(StatusCode::TOO_MANY_REQUESTS).await);
    };
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(info.clone());
    let (offered, structured) = offered_protocols(&parts.headers);
    let protocol = if offered.is_empty() {
        None
    } else {
        handler
            .select_protocol(&parts, &offered)
            .filter(|p| offered.contains(p))
    };
    let Some(head) = response_head(draft, protocol.as_deref(), structured) else {
        tracing::debug!(
            ?protocol,
            "the picked sub-protocol is not a valid header value"
        );
        return ControlFlow::Break(responder.status(StatusCode::BAD_REQUEST).await);
    };
    responder.head(StatusCode::OK, &head);
    if responder.flush().await.is_err() {
        tracing::debug!("could not accept the WebTransport session");
        return ControlFlow::Break(Outcome::Reset);
    }
    tracing::debug!(session = id, %draft, ?protocol, "WebTransport session open");
    let (close_tx, close_rx) = oneshot::channel();
    let parts = SessionParts {
        id,
        conn: ctx.quic.clone(),
        request: parts,
        info,
        protocol,
        draft,
        shutdown: ctx.shutdown.clone(),
    };
    ControlFlow::Continue(Open {
        id,
        handler,
        registration,
        session: WebTransportSession::new(parts, inbox, close_tx),
        body,
        close_rx,
    })
}

/// The WebTransport draft the client's SETTINGS pick, waiting for them as long as a request
/// head may take: the drafts process no WebTransport request before the client's SETTINGS.
async fn negotiate(
    ctx: &Ctx,
    responder: &mut Responder,
) -> ControlFlow<Outcome, WebTransportDraft> {
    let Some(settings) = ctx.client_settings(ctx.config.request_header_timeout).await else {
        tracing::debug!("no SETTINGS from the client before its WebTransport CONNECT timed out");
        return ControlFlow::Break(refuse(responder, "the client sent no SETTINGS").await);
    };
    match WebTransportDraft::negotiate(&settings) {
        Some(draft) => ControlFlow::Continue(draft),
        None => {
            tracing::debug!("WebTransport CONNECT from a client whose SETTINGS enable no draft");
            let reason = "the client's SETTINGS enable no WebTransport draft the server speaks \
                          (SETTINGS_ENABLE_WEBTRANSPORT or SETTINGS_WEBTRANSPORT_MAX_SESSIONS)";
            ControlFlow::Break(refuse(responder, reason).await)
        }
    }
}

/// The 200's fields: the draft-02 version header and the picked sub-protocol, in the
/// header the client offered it in; `None` if the sub-protocol is no valid header value.
fn response_head(
    draft: WebTransportDraft,
    protocol: Option<&str>,
    structured: bool,
) -> Option<HeaderMap> {
    let mut head = HeaderMap::new();
    if draft == WebTransportDraft::Draft02 {
        // draft-02 §3.3: the server SHALL say which draft it speaks (draft-07 has no header).
        head.insert(
            "sec-webtransport-http3-draft",
            HeaderValue::from_static("draft02"),
        );
    }
    if let Some(p) = protocol {
        let (name, value) = if structured {
            let quoted = format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\""));
            ("wt-protocol", HeaderValue::try_from(quoted).ok()?)
        } else {
            ("sec-webtransport-protocol", HeaderValue::try_from(p).ok()?)
        };
        head.insert(name, value);
    }
    Some(head)
}

/// Runs an open session's handler while reading the client's capsules, until either side
/// closes it or the connection drops, then ends the CONNECT stream.
async fn run(ctx: &Ctx, open: Open, mut responder: Responder) -> Outcome {
    let Open {
        id,
        handler,
        registration,
        session,
        mut body,
        mut close_rx,
    } = open;
    // The handler's own logs name the session and its draft.
    let span = tracing::debug_span!("webtransport", session = id, draft = %session.draft());
    let mut handled = AssertUnwindSafe(handler.handle(session).instrument(span)).catch_unwind();
    let mut capsules = CapsuleReader::default();
    let mut close_open = true;
    let mut drained = false;
    let mut client = Client::Open;
    let close = loop {
        tokio::select! {
            // Drain first: a handler that ends because the server drains must not beat the
            // DRAIN capsule to the client.
            biased;
            _ = ctx.shutdown.draining(), if !drained => {
                // The server is shutting down: ask the client to wrap up; the handler sees it
                // on its session's shutdown signal.
                drained = true;
                responder.data(drain_capsule());
                let _ = responder.flush().await;
            }
            result = &mut handled => {
                // A handler that called `close` and then returned closes as it said.
                let called = close_open.then(|| close_rx.try_recv().ok()).flatten();
                break Some(called.unwrap_or_else(|| handler_close(result)));
            }
            closed = &mut close_rx, if close_open => match closed {
                Ok(close) => break Some(close),
                Err(_) => close_open = false,
            },
            event = poll_fn(|cx| body.poll_connect_stream(cx)) => {
                client = client_event(event, &mut capsules);
                if !matches!(client, Client::Open) {
                    break None;
                }
            }
        }
    };
    // Mark the session gone first, so that dropping the handler resets its streams.
    drop(registration);
    drop(handled);
    let outcome = end(&mut responder, &mut body, close, client, &capsules).await;
    tracing::debug!(session = id, "WebTransport session closed");
    outcome
}

/// How a session whose handler returned (or panicked) without calling `close` closes.
fn handler_close(result: std::thread::Result<Result<(), BoxError>>) -> CloseInfo {
    match result {
        Ok(Ok(())) => CloseInfo::default(),
        Ok(Err(e)) => {
            tracing::debug!(error = %ErrorChain::new(&*e), "WebTransport handler failed");
            CloseInfo {
                code: 1,
                reason: "handler failed".into(),
            }
        }
        Err(_) => {
            tracing::error!("WebTransport handler panicked; closing the session");
            CloseInfo {
                code: 1,
                reason: "handler failed".into(),
            }
        }
    }
}

/// Ends the CONNECT stream of a session whose handler is gone, with the server's `close`
/// capsule if it has one.
async fn end(
    responder: &mut Responder,
    body: &mut RecvBody,
    close: Option<CloseInfo>,
    client: Client,
    capsules: &CapsuleReader,
) -> Outcome {
    let malformed = match client {
        // RFC 9297 §3.3.
        Client::Malformed(reason) => Some(reason),
        // The drafts: only the FIN may follow the client's close capsule.
        Client::Closed if !capsules.at_boundary() => Some("data after the close capsule"),
        _ => None,
    };
    if let Some(reason) = malformed {
        return reset_malformed(responder, body, reason);
    }
    let finished = tokio::time::timeout(CLOSE_WAIT, async {
        if let Some(close) = close {
            responder.data(close_capsule(&close));
        }
        responder.finish().await
    })
    .await
    .unwrap_or(Outcome::Reset);
    match client {
        Client::Closed if finished.is_finished() && !only_the_end_follows(body).await => {
            reset_malformed(responder, body, "data after the close capsule")
        }
        // No STOP_SENDING before the client's FIN: the browsers take one that comes with the
        // close capsule for an unclean close. Read on (discarding) until the client ends its
        // side.
        Client::Open if finished.is_finished() => {
            body.discard_to_end().await;
            Outcome::Finished
        }
        _ => finished,
    }
}

/// Whether the client's side of the CONNECT stream ends (or goes quiet for [`CLOSE_WAIT`])
/// without more data.
async fn only_the_end_follows(body: &mut RecvBody) -> bool {
    let next = tokio::time::timeout(CLOSE_WAIT, poll_fn(|cx| body.poll_connect_stream(cx))).await;
    !matches!(next, Ok(Ok(Event::Data(_))))
}

/// Resets the CONNECT stream of a malformed session both ways with H3_MESSAGE_ERROR.
fn reset_malformed(
    responder: &mut Responder,
    body: &mut RecvBody,
    reason: &'static str,
) -> Outcome {
    tracing::debug!(reason, "malformed capsules on the session stream");
    responder.reset(H3_MESSAGE_ERROR);
    body.stop(H3_MESSAGE_ERROR);
    Outcome::Reset
}

/// Where the client's side of a session's CONNECT stream is.
enum Client {
    Open,
    /// It sent its close capsule.
    Closed,
    /// It ended, reset or broke.
    Ended,
    /// Its capsules are malformed, for this reason.
    Malformed(&'static str),
}

/// Reads one event of the client's side of the CONNECT stream.
fn client_event(event: Result<Event, ReadFail>, capsules: &mut CapsuleReader) -> Client {
    match event {
        Ok(Event::Data(data)) => match capsules.push(&data) {
            Ok(None) => Client::Open,
            Ok(Some(close)) => {
                tracing::debug!(code = close.code, reason = %close.reason, "client closed the session");
                Client::Closed
            }
            Err(reason) => Client::Malformed(reason),
        },
        // `poll_connect_stream` turns HEADERS into an error.
        Ok(Event::End | Event::Headers(_)) if !capsules.at_boundary() => {
            Client::Malformed("the stream ended inside a capsule")
        }
        Ok(Event::End | Event::Headers(_)) => {
            tracing::debug!("client ended the session");
            Client::Ended
        }
        Err(e) => {
            tracing::debug!(error = ?e, "session stream failed");
            Client::Ended
        }
    }
}

/// Answers a WebTransport CONNECT the server will not serve with `400` and `reason`.
async fn refuse(responder: &mut Responder, reason: &'static str) -> Outcome {
    let response = http::Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(String::from(reason));
    match response {
        Ok(response) => responder.send(response, false).await,
        Err(_) => responder.status(StatusCode::BAD_REQUEST).await,
    }
}
