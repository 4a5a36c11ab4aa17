//! The client's unidirectional streams (RFC 9114 §6.2): its control stream, its QPACK encoder
//! and decoder streams (one of each, read and checked as they come), WebTransport streams
//! (to their session), and the rest: push streams are an error from a client, unknown types
//! are refused with STOP_SENDING(H3_STREAM_CREATION_ERROR) without reading any further.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use super::context::Ctx;
use super::rate::Rate;
use crate::codes::{
    H3_CLOSED_CRITICAL_STREAM, H3_EXCESSIVE_LOAD, H3_REQUEST_INCOMPLETE, H3_STREAM_CREATION_ERROR,
};
use crate::control;
use crate::proto::error::ProtoError;
use crate::proto::qpack::{DecoderStreamReader, EncoderStreamReader};
use crate::proto::stream_type::{self, UniStream};
use crate::proto::varint;

/// Serves one unidirectional stream the client opened; a protocol error closes the
/// connection.
pub(crate) async fn serve(ctx: Arc<Ctx>, mut recv: quinn::RecvStream) {
    let header_timeout = ctx.config.request_header_timeout;
    let kind = match tokio::time::timeout(header_timeout, read_varint(&mut recv)).await {
        Ok(Ok(Some(kind))) => kind,
        // Ended, reset or silent before saying what it is.
        _ => {
            let _ = recv.stop(H3_REQUEST_INCOMPLETE);
            ctx.churned();
            return;
        }
    };
    let result = match stream_type::classify(kind) {
        UniStream::Control if Ctx::claim(&ctx.peer.control) => {
            Err(control::read_peer_control(&ctx, recv).await)
        }
        UniStream::QpackEncoder if Ctx::claim(&ctx.peer.encoder) => {
            let mut reader = EncoderStreamReader::new();
            feed(&ctx, &mut recv, |b| reader.feed(b)).await
        }
        UniStream::QpackDecoder if Ctx::claim(&ctx.peer.decoder) => {
            let mut reader = DecoderStreamReader::new();
            feed(&ctx, &mut recv, |b| reader.feed(b)).await
        }
        UniStream::Control | UniStream::QpackEncoder | UniStream::QpackDecoder => {
            Err(ProtoError::connection(
                H3_STREAM_CREATION_ERROR,
                "a second critical stream of one type",
            ))
        }
        UniStream::Push => Err(ProtoError::connection(
            H3_STREAM_CREATION_ERROR,
            "a push stream from a client",
        )),
        UniStream::WebTransport if ctx.wt.is_some() => {
            webtransport(&ctx, recv).await;
            Ok(())
        }
        UniStream::WebTransport | UniStream::Unknown(_) => {
            // RFC 9114 §6.2: the type is unknown here; refuse it without reading on.
            let _ = recv.stop(H3_STREAM_CREATION_ERROR);
            ctx.churned();
            Ok(())
        }
    };
    if let Err(e) = result {
        ctx.fail(&e);
    }
}

/// Hands a WebTransport stream to its session once its session id has come.
async fn webtransport(ctx: &Ctx, mut recv: quinn::RecvStream) {
    let header_timeout = ctx.config.request_header_timeout;
    match tokio::time::timeout(header_timeout, read_varint(&mut recv)).await {
        Ok(Ok(Some(session))) => crate::webtransport::deliver_uni(ctx, session, recv).await,
        _ => {
            let _ = recv.stop(H3_REQUEST_INCOMPLETE);
            ctx.churned();
        }
    }
}

/// Feeds a QPACK stream to its reader until it ends: a critical stream, so its end is a
/// connection error. With no dynamic table there is next to nothing to say on these streams,
/// so they share the control stream's rate limit.
async fn feed(
    ctx: &Ctx,
    recv: &mut quinn::RecvStream,
    mut reader: impl FnMut(&[u8]) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let rate = Rate::new(ctx.config.control_frame_rate);
    loop {
        match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => {
                for _ in 0..=chunk.bytes.len() / control::BYTES_PER_FRAME {
                    if !rate.allow() {
                        return Err(ProtoError::connection(
                            H3_EXCESSIVE_LOAD,
                            "QPACK stream data over the rate limit",
                        ));
                    }
                }
                reader(&chunk.bytes)?
            }
            Ok(None) | Err(_) => {
                return Err(ProtoError::connection(
                    H3_CLOSED_CRITICAL_STREAM,
                    "a QPACK stream closed",
                ))
            }
        }
    }
}

/// Reads one varint from the front of a stream, no byte further (what follows belongs to
/// someone else: a WebTransport session, or h3 frames). `None` at the end of the stream.
pub(crate) async fn read_varint(
    recv: &mut quinn::RecvStream,
) -> Result<Option<u64>, quinn::ReadExactError> {
    let mut raw = BytesMut::with_capacity(8);
    read_varint_into(recv, &mut raw).await
}

/// [`read_varint`], appending the varint's bytes to `raw`.
pub(crate) async fn read_varint_into(
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
    Ok(varint::decode(&raw[start..]).map(|(v, _)| v))
}
