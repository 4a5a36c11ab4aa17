//! [`Responder`]: the sending half of a request stream. Writes HEADERS, DATA and trailers,
//! coalescing what is ready into one write, and resets a response the client takes no byte
//! of for the write-stall timeout ([`twinport::transport::WriteStall`]).

use quinn::VarInt;
use std::future::{poll_fn, Future};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use http_body::{Body, Frame};
use twinport::transport::{Event, WriteStall};

use crate::codes::{H3_INTERNAL_ERROR, H3_MESSAGE_ERROR, H3_REQUEST_CANCELLED};
use crate::connection::context::Ctx;
use crate::proto::frame::{self, DATA};
use crate::proto::message;

/// Chunks gathered before a write.
const BATCH: usize = 6;
/// Bytes gathered before a write.
const BATCH_BYTES: usize = 64 * 1024;

/// How a response stream ended. Only a finished one is worth waiting for the client's
/// acknowledgement of: quinn frees a reset stream without a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) enum Outcome {
    /// Ended cleanly: the client gets all of it.
    Finished,
    /// Reset, or broken because the client went away.
    Reset,
}

impl Outcome {
    pub(crate) fn is_finished(self) -> bool {
        self == Self::Finished
    }
}

/// Why a response could not be sent on.
#[derive(Debug)]
pub(crate) enum SendFail {
    /// The client stopped the stream, the connection is gone, or the write stalled (and the
    /// stream was reset).
    Gone,
}

/// The sending half of a request stream.
pub(crate) struct Responder {
    send: quinn::SendStream,
    ctx: Arc<Ctx>,
    stall: Option<WriteStall>,
    /// Where frame headers are encoded; split off per frame, so one allocation serves many.
    scratch: BytesMut,
    batch: [Bytes; BATCH],
    len: usize,
    bytes: usize,
}

impl Responder {
    pub(crate) fn new(send: quinn::SendStream, ctx: &Arc<Ctx>) -> Self {
        Self {
            send,
            stall: ctx.config.write_stall_timeout.map(WriteStall::new),
            ctx: ctx.clone(),
            scratch: BytesMut::new(),
            batch: Default::default(),
            len: 0,
            bytes: 0,
        }
    }

    pub(crate) fn stream(&self) -> &quinn::SendStream {
        &self.send
    }

    /// The stream, for a WebTransport session's stream.
    pub(crate) fn into_stream(self) -> quinn::SendStream {
        self.send
    }

    /// Queues a response head (connection-specific fields dropped by the encoder's caller).
    pub(crate) fn head(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.scratch.reserve(64 + headers.len() * 32);
        message::encode_response(status, headers, &mut self.scratch);
        let head = self.scratch.split().freeze();
        self.queue(head);
    }

    /// Queues one DATA frame.
    pub(crate) fn data(&mut self, data: Bytes) {
        self.scratch.reserve(16);
        frame::encode_header(DATA, data.len() as u64, &mut self.scratch);
        let header = self.scratch.split().freeze();
        self.queue(header);
        self.queue(data);
    }

    /// Queues trailers.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        message::encode_trailers(trailers, &mut self.scratch);
        let block = self.scratch.split().freeze();
        self.queue(block);
    }

    fn queue(&mut self, chunk: Bytes) {
        self.bytes += chunk.len();
        self.batch[self.len] = chunk;
        self.len += 1;
    }

    /// Whether the queue should be written before more is added.
    fn full(&self) -> bool {
        self.len + 2 > BATCH || self.bytes >= BATCH_BYTES
    }

    /// Writes what is queued.
    pub(crate) async fn flush(&mut self) -> Result<(), SendFail> {
        let mut start = 0;
        while start < self.len {
            let bufs = &mut self.batch[start..self.len];
            let send = &mut self.send;
            let written = poll_fn(|cx| match self.stall.as_mut() {
                None => std::pin::pin!(send.write_chunks(&mut *bufs))
                    .poll(cx)
                    .map(Ok),
                Some(stall) => stall.poll_write(cx, |cx| {
                    std::pin::pin!(send.write_chunks(&mut *bufs)).poll(cx)
                }),
            })
            .await;
            match written {
                Ok(Ok(written)) => start += written.chunks,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "client went away mid-response");
                    return Err(self.gone());
                }
                Err(stalled) => {
                    tracing::debug!(error = %stalled, "the client took no bytes of the response; resetting the stream");
                    self.reset(H3_REQUEST_CANCELLED);
                    return Err(self.gone());
                }
            }
        }
        self.clear();
        Ok(())
    }

    fn clear(&mut self) {
        for chunk in &mut self.batch[..self.len] {
            *chunk = Bytes::new();
        }
        self.len = 0;
        self.bytes = 0;
    }

    fn gone(&mut self) -> SendFail {
        self.clear();
        SendFail::Gone
    }

    /// Writes what is queued and ends the stream.
    pub(crate) async fn finish(&mut self) -> Outcome {
        if self.flush().await.is_err() {
            return Outcome::Reset;
        }
        match self.send.finish() {
            Ok(()) => Outcome::Finished,
            Err(e) => {
                tracing::debug!(error = %e, "could not finish the response");
                Outcome::Reset
            }
        }
    }

    /// Resets the stream with `code`.
    pub(crate) fn reset(&mut self, code: VarInt) {
        if self.send.reset(code).is_ok() {
            Event::StreamReset {
                transport: "quic",
                code: crate::codes::name(code),
            }
            .record();
        }
    }

    /// What a response whose body failed is reset with: H3_MESSAGE_ERROR if the failure is
    /// the client's malformed request (RFC 9114 §4.1.2), H3_INTERNAL_ERROR otherwise.
    fn body_error_code(&self) -> VarInt {
        if self.ctx.malformed.take(self.send.id().into()) {
            H3_MESSAGE_ERROR
        } else {
            H3_INTERNAL_ERROR
        }
    }

    /// Answers with `status` and no body.
    pub(crate) async fn status(&mut self, status: StatusCode) -> Outcome {
        Event::Answered {
            transport: "quic",
            status,
        }
        .record();
        self.head(status, &HeaderMap::new());
        self.finish().await
    }

    /// Sends a response: its head (without the fields HTTP/3 forbids, with `content-length`
    /// when the body's size is known), then its body unless `head_only` or the status has
    /// none. Reset if the body failed or the client went away.
    pub(crate) async fn send<B>(&mut self, response: http::Response<B>, head_only: bool) -> Outcome
    where
        B: Body,
    {
        let (mut parts, body) = response.into_parts();
        strip_connection_fields(&mut parts.headers);
        let status = parts.status;
        let no_content = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let bodiless = head_only || no_content;
        if !no_content && !parts.headers.contains_key(header::CONTENT_LENGTH) {
            if let Some(n) = body.size_hint().exact() {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
        }
        self.head(status, &parts.headers);
        if bodiless || body.is_end_stream() {
            // RFC 9110 §6.4.1: these responses have no content, whatever the handler made.
            drop(body);
            return self.finish().await;
        }
        self.send_body(body).await
    }

    /// Sends a response body after its queued head, then ends the stream.
    async fn send_body<B>(&mut self, body: B) -> Outcome
    where
        B: Body,
    {
        let mut body = std::pin::pin!(body);
        loop {
            // What the body has ready joins the queue; the queue is written when the body
            // has to wait, or is full.
            let polled = poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await;
            let frame = match polled {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    if self.flush().await.is_err() {
                        return Outcome::Reset;
                    }
                    poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                }
            };
            let frame = match frame {
                None => break,
                Some(Ok(frame)) => frame,
                Some(Err(_)) => {
                    // The guard's body logged why (at error for a panic).
                    self.clear();
                    self.reset(self.body_error_code());
                    return Outcome::Reset;
                }
            };
            match self.queue_frame(frame).await {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => break,
                Err(SendFail::Gone) => return Outcome::Reset,
            }
        }
        self.finish().await
    }

    /// Queues one body frame, writing the queue first if it is full; trailers end the body.
    async fn queue_frame<D: Buf>(&mut self, frame: Frame<D>) -> Result<ControlFlow<()>, SendFail> {
        let trailers = match frame.into_data() {
            Ok(mut data) => {
                if data.has_remaining() {
                    if self.full() {
                        self.flush().await?;
                    }
                    self.data(data.copy_to_bytes(data.remaining()));
                }
                return Ok(ControlFlow::Continue(()));
            }
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => trailers,
                Err(_) => return Ok(ControlFlow::Continue(())),
            },
        };
        // No empty trailer section: some QPACK decoders (ls-qpack) refuse one.
        if !trailers.is_empty() {
            if self.full() {
                self.flush().await?;
            }
            self.trailers(&trailers);
        }
        Ok(ControlFlow::Break(()))
    }
}

/// Whether `name` is about one HTTP/1.1 connection, which HTTP/3 forbids (RFC 9114 §4.2).
pub(crate) fn is_connection_specific(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Drops the fields a handler may set that HTTP/3 forbids in a response.
pub(crate) fn strip_connection_fields(headers: &mut HeaderMap) {
    let forbidden = |name: &HeaderName| is_connection_specific(name) || name == header::TE;
    // Rare, so looked for before anything is removed.
    if headers.keys().any(forbidden) {
        let names: Vec<HeaderName> = headers.keys().filter(|n| forbidden(n)).cloned().collect();
        for name in &names {
            headers.remove(name);
        }
    }
}
