//! [`RecvBody`]: the body of an HTTP/3 request, read from the QUIC stream as it is polled.

use quinn::VarInt;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use twinport::transport::WriteStall;

use crate::codes::{H3_FRAME_UNEXPECTED, H3_NO_ERROR, H3_REQUEST_INCOMPLETE};
use crate::error::BodyError;
use crate::proto::error::ProtoError;
use crate::proto::message;
use crate::request::after_trailers;
use crate::request::reader::{Event, ReadFail, RequestReader};

/// How long a CONNECT stream the server is done with waits for the client's end.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How much a client may send on a CONNECT stream the server is done with before the server
/// stops reading it.
const CLOSE_READ_LIMIT: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    /// The trailers have been read; the stream may still have frames to check.
    Trailers,
    Done,
}

/// The body of an HTTP/3 request: data frames, then trailers if the client sent any.
///
/// Data is pulled from the QUIC stream only when the body is polled, so QUIC flow control
/// slows a client down when the handler reads slowly: nothing is read ahead beyond the stream's
/// receive window. If the client resets the stream or the connection is lost, polling yields a
/// [`BodyError`]; so does a client that sends nothing for
/// [`Http3Config::body_idle_timeout`](crate::Http3Config::body_idle_timeout) while the body
/// is waited on ([`BodyError::TimedOut`], the stream is stopped with `H3_REQUEST_INCOMPLETE`).
/// Data that does not add up to the request's `content-length` is a malformed request
/// ([`BodyError::Protocol`]; the stream is stopped, and a response failing because of it is
/// reset, with `H3_MESSAGE_ERROR`). Dropping the body before its end asks the client to stop
/// sending (`STOP_SENDING` with `H3_NO_ERROR`); one dropped after its trailers has the rest of
/// the stream read, in the background, to check that nothing but its end follows.
pub struct RecvBody {
    reader: Option<RequestReader>,
    state: State,
    /// The request's `content-length`, which the data must match exactly.
    expected: Option<u64>,
    received: u64,
    /// Fails a read that waited this long for the client.
    idle: Option<WriteStall>,
}

impl RecvBody {
    /// A body read from `reader`, which must carry exactly `content_length` bytes if set.
    pub(crate) fn new(
        reader: RequestReader,
        content_length: Option<u64>,
        idle: Option<Duration>,
    ) -> Self {
        Self {
            reader: Some(reader),
            state: State::Data,
            expected: content_length,
            received: 0,
            idle: idle.map(WriteStall::new),
        }
    }

    /// A body with no data, for tests and for requests built by hand.
    pub fn empty() -> Self {
        Self {
            reader: None,
            state: State::Done,
            expected: None,
            received: 0,
            idle: None,
        }
    }

    /// RFC 9114 §4.1.2: a request whose DATA does not add up to its `content-length` is
    /// malformed.
    fn mismatch(&mut self) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let expected = self.expected.unwrap_or_default();
        self.state = State::Done;
        if let Some(reader) = self.reader.as_mut() {
            reader.malformed();
        }
        Poll::Ready(Some(Err(BodyError::Protocol {
            reason: format!(
                "the body does not match content-length {expected} ({} bytes or more)",
                self.received
            ),
        })))
    }

    /// Ends the body with `error`, asking the client to stop with `code`.
    fn fail_with(
        &mut self,
        code: VarInt,
        error: BodyError,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.state = State::Done;
        if let Some(reader) = self.reader.as_mut() {
            reader.stop(code);
        }
        Poll::Ready(Some(Err(error)))
    }

    fn fail(&mut self, f: ReadFail) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(f.into())))
    }

    /// The stream's next event as it comes, for the stream of an extended CONNECT (a
    /// WebTransport session's capsules, a WebSocket's bytes): no idle timer, a session may
    /// be quiet for as long as its connection lives.
    /// Once the CONNECT is answered only DATA may follow (RFC 9114 §4.4): HEADERS closes the
    /// connection with H3_FRAME_UNEXPECTED and comes back as that error.
    pub(crate) fn poll_connect_stream(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Event, ReadFail>> {
        let Some(reader) = self.reader.as_mut() else {
            return Poll::Ready(Ok(Event::End));
        };
        match ready!(reader.poll_event(cx)) {
            Ok(Event::Headers(_)) => Poll::Ready(Err(reader.fail(ProtoError::connection(
                H3_FRAME_UNEXPECTED,
                "HEADERS on a CONNECT stream",
            )))),
            other => Poll::Ready(other),
        }
    }

    /// Asks the client to stop sending with `code`.
    pub(crate) fn stop(&mut self, code: VarInt) {
        if let Some(reader) = self.reader.as_mut() {
            reader.stop(code);
        }
    }

    /// Reads a CONNECT stream the server is done with to the client's end, discarding what
    /// comes, for at most [`CLOSE_WAIT`] and [`CLOSE_READ_LIMIT`] bytes: the browsers take a
    /// STOP_SENDING that comes before their FIN for an unclean close. Dropping the body
    /// after that stops the stream.
    pub(crate) async fn discard_to_end(&mut self) {
        let mut read = 0usize;
        let ended = tokio::time::timeout(CLOSE_WAIT, async {
            while read <= CLOSE_READ_LIMIT {
                match std::future::poll_fn(|cx| self.poll_connect_stream(cx)).await {
                    Ok(Event::Data(data)) => read += data.len(),
                    Ok(Event::End | Event::Headers(_)) | Err(_) => return true,
                }
            }
            false
        })
        .await;
        if !matches!(ended, Ok(true)) {
            tracing::debug!(read, "the client did not end the CONNECT stream");
        }
    }

    /// Reads the next event, under the idle timer.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, Option<ReadFail>>> {
        let Some(reader) = self.reader.as_mut() else {
            return Poll::Ready(Ok(Event::End));
        };
        match self.idle.as_mut() {
            None => reader.poll_event(cx).map_err(Some),
            Some(idle) => match ready!(idle.poll_write(cx, |cx| reader.poll_event(cx))) {
                Ok(event) => Poll::Ready(event.map_err(Some)),
                Err(_) => Poll::Ready(Err(None)),
            },
        }
    }
}

impl Default for RecvBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for RecvBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBody")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.state != State::Data {
            return Poll::Ready(None);
        }
        let event = match ready!(this.poll_event(cx)) {
            Ok(event) => event,
            Err(Some(f)) => return this.fail(f),
            Err(None) => {
                let limit = this
                    .idle
                    .as_ref()
                    .map(WriteStall::limit)
                    .unwrap_or_default();
                return this.fail_with(H3_REQUEST_INCOMPLETE, BodyError::TimedOut { after: limit });
            }
        };
        match event {
            Event::Data(data) => {
                this.received = this.received.saturating_add(data.len() as u64);
                if this.expected.is_some_and(|n| this.received > n) {
                    return this.mismatch();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Event::End => {
                if this.expected.is_some_and(|n| this.received != n) {
                    return this.mismatch();
                }
                this.state = State::Done;
                Poll::Ready(None)
            }
            Event::Headers(block) => {
                if this.expected.is_some_and(|n| this.received != n) {
                    return this.mismatch();
                }
                this.state = State::Done;
                let Some(reader) = this.reader.as_mut() else {
                    return Poll::Ready(None);
                };
                let max = reader.ctx().config.max_field_section_size;
                match message::decode_trailers(&block, max) {
                    Ok(trailers) => {
                        this.state = State::Trailers;
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    Err(e) => {
                        let failed = reader.fail(e);
                        this.fail(failed)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state != State::Data
    }

    fn size_hint(&self) -> SizeHint {
        match (self.state, self.expected) {
            (State::Trailers | State::Done, _) => SizeHint::with_exact(0),
            (State::Data, Some(n)) => SizeHint::with_exact(n.saturating_sub(self.received)),
            (_, None) => SizeHint::default(),
        }
    }
}

impl Drop for RecvBody {
    fn drop(&mut self) {
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        // A request without a body (a GET, say), or one read to its trailers, has usually
        // received its end by now, unread.
        if reader.is_done_now() {
            return;
        }
        if self.state == State::Trailers {
            after_trailers::read_to_end(reader);
            return;
        }
        if self.received == 0 && matches!(self.expected, None | Some(0)) {
            after_trailers::await_end(reader);
            return;
        }
        // RFC 9114 §4.1.1: the response does not need the rest of the request. (A stream
        // stopped already, by a body error, keeps its first code.)
        reader.stop(H3_NO_ERROR);
    }
}
