//! The CONNECT stream of a WebTransport session: answers the extended CONNECT, runs the
//! handler, reads the client's capsules, and closes the session with a capsule of its own.

use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use twinport::ConnectionInfo;

use super::offered_protocols;
use super::session::{CloseInfo, SessionParts, WebTransportSession};
use super::wire::{close_capsule, drain_capsule, CapsuleReader};
use crate::body::RecvBody;
use crate::connection::context::Ctx;
use crate::request::reader::Event;
use crate::request::respond::Responder;

/// How long closing a session may wait for the client to take the close capsule.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

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
    // Chromium checks this header for draft-02 sessions.
    head.insert(
        "sec-webtransport-http3-draft",
        HeaderValue::from_static("draft02"),
    );
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
    tracing::debug!(session = id, ?protocol, "WebTransport session open");

    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel();
    let session = WebTransportSession::new(
        SessionParts {
            id,
            conn: ctx.quic.clone(),
            request: parts,
            info,
            protocol,
            shutdown: ctx.shutdown.clone(),
        },
        inbox,
        close_tx,
    );
    let mut handled = AssertUnwindSafe(handler.handle(session)).catch_unwind();
    let mut capsules = CapsuleReader::default();
    let mut close_open = true;
    let mut drained = false;
    // Whether the client's side of the CONNECT stream is still open.
    let mut reading = true;
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
            result = &mut handled => break match result {
                Ok(Ok(())) => Some(CloseInfo::default()),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "WebTransport handler failed");
                    Some(CloseInfo { code: 1, reason: "handler failed".into() })
                }
                Err(_) => {
                    tracing::error!("WebTransport handler panicked; closing the session");
                    Some(CloseInfo { code: 1, reason: "handler failed".into() })
                }
            },
            closed = &mut close_rx, if close_open => match closed {
                Ok(close) => break Some(close),
                Err(_) => close_open = false,
            },
            event = poll_fn(|cx| body.poll_capsules(cx)) => match event {
                Ok(Event::Data(data)) => {
                    if let Some(close) = capsules.push(&data) {
                        tracing::debug!(code = close.code, reason = %close.reason, "client closed the session");
                        break None;
                    }
                }
                Ok(Event::End) | Ok(Event::Headers(_)) => {
                    tracing::debug!("client ended the session");
                    reading = false;
                    break None;
                }
                Err(e) => {
                    tracing::debug!(error = ?e, "session stream failed");
                    reading = false;
                    break None;
                }
            },
        }
    };
    // Mark the session gone first, so that dropping the handler resets its streams.
    drop(registration);
    drop(handled);
    let finished = tokio::time::timeout(CLOSE_WAIT, async {
        if let Some(close) = close {
            responder.data(close_capsule(&close));
        }
        let finished = responder.finish().await;
        // Let the client end its side before the stream is dropped: a STOP_SENDING that
        // overtakes the capsule and the FIN makes browsers take the close for an unclean one.
        while reading {
            match poll_fn(|cx| body.poll_capsules(cx)).await {
                Ok(Event::Data(_)) => {}
                _ => reading = false,
            }
        }
        finished
    })
    .await
    .unwrap_or(false);
    tracing::debug!(session = id, "WebTransport session closed");
    finished
}
