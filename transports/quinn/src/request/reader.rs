//! [`RequestReader`]: the frames of a request stream as the client sends them, read from
//! quinn only when asked (so QUIC flow control holds a client back to the pace of the reader).

use quinn::VarInt;
use std::future::Future;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;

use crate::codes::{H3_FRAME_ERROR, H3_FRAME_UNEXPECTED, H3_MESSAGE_ERROR, H3_REQUEST_REJECTED};
use crate::connection::context::Ctx;
use crate::error::BodyError;
use crate::proto::error::ProtoError;
use crate::proto::frame::{Frame, FrameDecoder, StreamKind};

/// What comes next on a request stream.
pub(crate) enum Event {
    /// A HEADERS frame's field section: the request head, then trailers.
    Headers(Bytes),
    /// Some of a DATA frame's payload.
    Data(Bytes),
    /// The end of the stream, at a frame boundary.
    End,
}

/// Why a request stream cannot be read on.
#[derive(Debug)]
pub(crate) enum ReadFail {
    /// The client broke the protocol; a connection-scope error has closed the connection
    /// already, a stream-scope one is for the caller to act on.
    Proto(ProtoError),
    /// The client reset the stream.
    Reset(u64),
    /// The connection is gone.
    Lost(quinn::ReadError),
}

impl From<ReadFail> for BodyError {
    fn from(f: ReadFail) -> Self {
        match f {
            ReadFail::Proto(e) => BodyError::Protocol {
                reason: e.reason.to_owned(),
            },
            ReadFail::Reset(code) => BodyError::Reset { code },
            ReadFail::Lost(source) => BodyError::ConnectionClosed { source },
        }
    }
}

/// The receiving half of a request stream and its frame decoder.
pub(crate) struct RequestReader {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    /// Bytes read from quinn and not decoded yet.
    chunk: Bytes,
    /// quinn has reported the end of the stream.
    fin: bool,
    ctx: Arc<Ctx>,
}

impl RequestReader {
    /// Reads `recv`, starting with `prefix` (bytes already read to classify the stream).
    pub(crate) fn new(recv: quinn::RecvStream, prefix: Bytes, ctx: Arc<Ctx>) -> Self {
        Self {
            recv,
            decoder: ctx.decoder(StreamKind::Request),
            chunk: prefix,
            fin: false,
            ctx,
        }
    }

    pub(crate) fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    pub(crate) fn id(&self) -> u64 {
        self.recv.id().into()
    }

    /// The next event. Connection errors close the connection before they are returned.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, ReadFail>> {
        loop {
            if !self.chunk.is_empty() {
                match self.decoder.decode(&mut self.chunk) {
                    Ok(Some(Frame::Headers(block))) => {
                        return Poll::Ready(Ok(Event::Headers(block)))
                    }
                    Ok(Some(Frame::Data(data))) => return Poll::Ready(Ok(Event::Data(data))),
                    Ok(Some(Frame::WebTransportStream(_))) => {
                        // Never: with WebTransport a stream's first frame is classified before
                        // it comes here, and without it the decoder skips the type.
                        return Poll::Ready(Err(self.fail(ProtoError::stream(
                            H3_REQUEST_REJECTED,
                            "a WebTransport stream without WebTransport",
                        ))));
                    }
                    Ok(Some(_)) => {
                        return Poll::Ready(Err(self.fail(ProtoError::connection(
                            H3_FRAME_UNEXPECTED,
                            "a control frame on a request stream",
                        ))))
                    }
                    Ok(None) => continue,
                    Err(e) => return Poll::Ready(Err(self.fail(e))),
                }
            }
            if self.fin {
                if self.decoder.at_boundary() {
                    return Poll::Ready(Ok(Event::End));
                }
                // RFC 9114 §7.1: a truncated last frame.
                return Poll::Ready(Err(self.fail(ProtoError::connection(
                    H3_FRAME_ERROR,
                    "the request stream ended inside a frame",
                ))));
            }
            let read = std::pin::pin!(self.recv.read_chunk(usize::MAX, true)).poll(cx);
            match ready!(read) {
                Ok(Some(chunk)) => self.chunk = chunk.bytes,
                Ok(None) => self.fin = true,
                Err(quinn::ReadError::Reset(code)) => {
                    return Poll::Ready(Err(ReadFail::Reset(code.into_inner())))
                }
                Err(e) => return Poll::Ready(Err(ReadFail::Lost(e))),
            }
        }
    }

    /// The next event.
    pub(crate) async fn event(&mut self) -> Result<Event, ReadFail> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Closes the connection for a connection-scope error; either way, passes it on.
    pub(crate) fn fail(&mut self, e: ProtoError) -> ReadFail {
        if e.is_connection() {
            self.ctx.fail(&e);
        } else if e.code == H3_MESSAGE_ERROR {
            self.malformed();
        } else {
            self.stop(e.code);
        }
        ReadFail::Proto(e)
    }

    /// Marks the request malformed (RFC 9114 §4.1.2) and asks the client to stop sending
    /// with H3_MESSAGE_ERROR: a response failing because of it is reset with that code too.
    pub(crate) fn malformed(&mut self) {
        self.ctx.malformed.mark(self.id());
        self.stop(H3_MESSAGE_ERROR);
    }

    /// Asks the client to stop sending with `code`.
    pub(crate) fn stop(&mut self, code: VarInt) {
        let _ = self.recv.stop(code);
    }

    /// Whether the stream has ended with nothing left unread, checked without waiting (one
    /// read that finds the end spares the client a STOP_SENDING it does not need).
    pub(crate) fn is_done_now(&mut self) -> bool {
        if !self.chunk.is_empty() {
            return false;
        }
        if self.fin {
            return true;
        }
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let read = std::pin::pin!(self.recv.read_chunk(usize::MAX, true)).poll(&mut cx);
        matches!(read, Poll::Ready(Ok(None)))
    }
}
