//! The bytes of an accepted HTTP/3 WebSocket: the CONNECT stream's DATA to the handler's
//! connection and back (RFC 9220 §3: the stream carries the WebSocket frames as they are; a
//! reset either way, H3_REQUEST_CANCELLED, is TCP's RST),
//! each direction through a bounded buffer, so a client is held back by QUIC flow control
//! when the handler reads slowly, and a client that takes nothing meets the write-stall
//! timeout.

use std::future::poll_fn;

use bytes::{Bytes, BytesMut};
use quinn::VarInt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

use super::pipe::AppEnd;

use crate::body::RecvBody;
use crate::codes::H3_REQUEST_CANCELLED;
use crate::connection::context::Ctx;
use crate::request::reader::{Event, ReadFail};
use crate::request::respond::{Outcome, Responder};

/// The most read from the handler's connection for one DATA frame.
const READ_CHUNK: usize = 16 * 1024;

type AppIo = DuplexStream;

/// How the client's side of the tunnel ended.
enum Up {
    /// The client ended its stream; the handler has read everything and seen the end.
    Ended,
    /// The handler no longer reads.
    AppGone,
    /// The client reset the stream (or broke the protocol on it: the code to reset with), or
    /// the connection is lost.
    Failed(VarInt),
}

/// How the handler's side of the tunnel ended.
enum Down {
    /// The handler closed its connection; the stream is finished.
    Finished,
    /// The client no longer takes bytes (stopped the stream, went away, or stalled).
    ClientGone,
    /// The handler's connection failed; the stream is reset.
    Failed,
}

/// Carries bytes both ways until both sides are done.
pub(crate) async fn run(
    ctx: &Ctx,
    body: &mut RecvBody,
    responder: &mut Responder,
    app: AppEnd,
) -> Outcome {
    let (from_app, to_app) = tokio::io::split(app.io);
    // In a block of its own, so that the two directions' borrows end with it.
    let (up_done, down_done) = {
        let mut up = std::pin::pin!(client_to_app(body, to_app));
        let mut down = std::pin::pin!(app_to_client(responder, app.first, from_app));
        let mut up_done: Option<Up> = None;
        loop {
            tokio::select! {
                ended = &mut up, if up_done.is_none() => match ended {
                    Up::Failed(code) => break (Some(Up::Failed(code)), None),
                    ended => up_done = Some(ended),
                },
                ended = &mut down => break (up_done, Some(ended)),
            }
        }
    };
    match (up_done, down_done) {
        (Some(Up::Failed(code)), _) => {
            // RFC 9220 §3: a reset maps to TCP's RST, both ways.
            tracing::debug!("the client reset the WebSocket stream");
            responder.reset(code);
            ctx.churned();
            Outcome::Reset
        }
        (up_done, Some(Down::Finished)) => {
            if !matches!(up_done, Some(Up::Ended)) {
                // The handler is done; what the client still sends (its close frame, say)
                // is read and dropped, within bounds, until it ends its side.
                body.discard_to_end().await;
            }
            tracing::debug!("WebSocket closed");
            Outcome::Finished
        }
        (_, Some(Down::ClientGone)) => {
            tracing::debug!("the client no longer reads the WebSocket");
            Outcome::Reset
        }
        (_, Some(Down::Failed) | None) => Outcome::Reset,
    }
}

/// The client's bytes to the handler, until the client ends its stream.
async fn client_to_app(body: &mut RecvBody, mut to_app: WriteHalf<AppIo>) -> Up {
    loop {
        match poll_fn(|cx| body.poll_connect_stream(cx)).await {
            Ok(Event::Data(data)) => {
                if to_app.write_all(&data).await.is_err() {
                    return Up::AppGone;
                }
            }
            // `poll_connect_stream` turns HEADERS into an error.
            Ok(Event::End | Event::Headers(_)) => {
                let _ = to_app.shutdown().await;
                return Up::Ended;
            }
            Err(e) => {
                tracing::debug!(error = ?e, "WebSocket stream failed");
                return Up::Failed(match e {
                    ReadFail::Proto(e) => e.code,
                    ReadFail::Reset(_) | ReadFail::Lost(_) => H3_REQUEST_CANCELLED,
                });
            }
        }
    }
}

/// The handler's bytes to the client (`first` the ones already read), until the handler
/// closes its connection.
async fn app_to_client(
    responder: &mut Responder,
    first: Bytes,
    mut from_app: ReadHalf<AppIo>,
) -> Down {
    if !first.is_empty() {
        responder.data(first);
        if responder.flush().await.is_err() {
            return Down::ClientGone;
        }
    }
    let mut buf = BytesMut::new();
    loop {
        buf.reserve(READ_CHUNK);
        match from_app.read_buf(&mut buf).await {
            Ok(0) => {
                return match responder.finish().await {
                    Outcome::Finished => Down::Finished,
                    Outcome::Reset => Down::ClientGone,
                };
            }
            Ok(_) => {
                responder.data(buf.split().freeze());
                if responder.flush().await.is_err() {
                    return Down::ClientGone;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "the handler's WebSocket connection failed");
                responder.reset(H3_REQUEST_CANCELLED);
                return Down::Failed;
            }
        }
    }
}
