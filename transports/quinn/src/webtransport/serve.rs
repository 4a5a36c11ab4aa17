//! The CONNECT stream of a WebTransport session: answers the extended CONNECT, runs the
//! handler, reads the client's capsules, and closes the session with a capsule of its own.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tracing::Instrument;
use twinport::ConnectionInfo;

use super::draft::WebTransportDraft;
use super::offered_protocols;
use super::session::{CloseInfo, SessionParts, WebTransportSession};
use super::wire::{close_capsule, drain_capsule, CapsuleReader};
use crate::body::{RecvBody, CLOSE_WAIT};
use crate::codes::H3_MESSAGE_ERROR;
use crate::connection::context::Ctx;
use crate::request::reader::{Event, ReadFail};
use crate::request::respond::Responder;

/// Answers an extended CONNECT for WebTransport and runs the session until either side
/// closes it or the connection drops. True if the CONNECT stream was finished.
pub(crate) async fn session(
    ctx: &Arc<Ctx>,
    req: Request<RecvBody>,
    mut responder: Responder,
    info: ConnectionInfo,
) -> bool {
    let Some(wt) = ctx.wt.as_ref() else {
        return responder.status(StatusCode::NOT_FOUND).await;
    };
    // RFC 9297 §3.2: a message of the capsule protocol has no content-length or content-type
    // (transfer-encoding is malformed in any HTTP/3 request).
    let headers = req.headers();
    if headers.contains_key(CONTENT_LENGTH) || headers.contains_key(CONTENT_TYPE) {
        tracing::debug!("a WebTransport CONNECT with content-length or content-type");
        let answered = responder.status(StatusCode::BAD_REQUEST).await;
        req.into_body().stop(H3_MESSAGE_ERROR);
        return answered;
    }
    let path = req.uri().path();
    let Some(handler) = wt
        .routes
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, h)| h.clone())
    else {
        tracing::debug!(path, "no WebTransport handler on this path");
        return responder.status(StatusCode::NOT_FOUND).await;
    };
    // The drafts: no WebTransport request is processed before the client's SETTINGS, which
    // say which draft it speaks (held as long as a request head may take).
    let Some(settings) = ctx.client_settings(ctx.config.request_header_timeout).await else {
        tracing::debug!("no SETTINGS from the client before its WebTransport CONNECT timed out");
        return refuse(&mut responder, "the client sent no SETTINGS").await;
    };
    let Some(draft) = WebTransportDraft::negotiate(&settings) else {
        tracing::debug!("WebTransport CONNECT from a client whose SETTINGS enable no draft");
        return refuse(
            &mut responder,
            "the client's SETTINGS enable no WebTransport draft the server speaks \
             (SETTINGS_ENABLE_WEBTRANSPORT or SETTINGS_WEBTRANSPORT_MAX_SESSIONS)",
        )
        .await;
    };
    let id = u64::from(responder.stream().id());
    let Some((registration, inbox)) = wt.registry.register(id) else {
        tracing::debug!("WebTransport session limit reached");
        return responder.status(StatusCode::TOO_MANY_REQUESTS).await;
    };
    let (mut parts, mut body) = req.into_parts();
    parts.extensions.insert(info.clone());
    let (offered, structured) = offered_protocols(&parts.headers);
    let protocol = if offered.is_empty() {
        None
    } else {
        handler
            .select_protocol(&parts, &offered)
            .filter(|p| offered.contains(p))
    };
    let mut head = HeaderMap::new();
    if draft == WebTransportDraft::Draft02 {
        // draft-02 §3.3: the server SHALL say which draft it speaks (draft-07 has no header).
        head.insert(
            "sec-webtransport-http3-draft",
            HeaderValue::from_static("draft02"),
        );
    }
    if let Some(p) = &protocol {
        let value = if structured {
            HeaderValue::try_from(format!(
                "\"{}\"",
                p.replace('\\', "\\\\").replace('"', "\\\"")
            ))
            .map(|v| ("wt-protocol", v))
        } else {
            HeaderValue::try_from(p.as_str()).map(|v| ("sec-webtransport-protocol", v))
        };
        match value {
            Ok((name, value)) => {
                head.insert(name, value);
            }
            Err(_) => {
                tracing::debug!(
                    ?protocol,
                    "the picked sub-protocol is not a valid header value"
                );
                return responder.status(StatusCode::BAD_REQUEST).await;
            }
        }
    }
    responder.head(StatusCode::OK, &head);
    if responder.flush().await.is_err() {
        tracing::debug!("could not accept the WebTransport session");
        return false;
    }
    tracing::debug!(session = id, %draft, ?protocol, "WebTransport session open");

    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel();
    let session = WebTransportSession::new(
        SessionParts {
            id,
            conn: ctx.quic.clone(),
            request: parts,
            info,
            protocol,
            draft,
            shutdown: ctx.shutdown.clone(),
        },
        inbox,
        close_tx,
    );
    // The handler's own logs name the session and its draft.
    let span = tracing::debug_span!("webtransport", session = id, %draft);
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
                if let Some(close) = close_open.then(|| close_rx.try_recv().ok()).flatten() {
                    break Some(close);
                }
                break match result {
                    Ok(Ok(())) => Some(CloseInfo::default()),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "WebTransport handler failed");
                        Some(CloseInfo { code: 1, reason: "handler failed".into() })
                    }
                    Err(_) => {
                        tracing::error!("WebTransport handler panicked; closing the session");
                        Some(CloseInfo { code: 1, reason: "handler failed".into() })
                    }
                };
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
    let finished = end(&mut responder, &mut body, close, client, &capsules).await;
    tracing::debug!(session = id, "WebTransport session closed");
    finished
}

/// Ends the CONNECT stream of a session whose handler is gone, with the server's `close`
/// capsule if it has one. True if the stream was finished.
async fn end(
    responder: &mut Responder,
    body: &mut RecvBody,
    close: Option<CloseInfo>,
    client: Client,
    capsules: &CapsuleReader,
) -> bool {
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
    .unwrap_or(false);
    match client {
        Client::Closed if finished && !only_the_end_follows(body).await => {
            reset_malformed(responder, body, "data after the close capsule")
        }
        // No STOP_SENDING before the client's FIN: the browsers take one that comes with the
        // close capsule for an unclean close. Read on (discarding) until the client ends its
        // side.
        Client::Open if finished => {
            body.discard_to_end().await;
            true
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

/// Resets the CONNECT stream of a malformed session both ways with H3_MESSAGE_ERROR; false.
fn reset_malformed(responder: &mut Responder, body: &mut RecvBody, reason: &'static str) -> bool {
    tracing::debug!(reason, "malformed capsules on the session stream");
    responder.reset(H3_MESSAGE_ERROR);
    body.stop(H3_MESSAGE_ERROR);
    false
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
async fn refuse(responder: &mut Responder, reason: &'static str) -> bool {
    let response = http::Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(String::from(reason));
    match response {
        Ok(response) => responder.send(response, false).await,
        Err(_) => responder.status(StatusCode::BAD_REQUEST).await,
    }
}
