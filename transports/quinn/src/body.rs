//! [`RecvBody`]: the body of an HTTP/3 request, read from the QUIC stream as it is polled.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use crate::adapter;
use crate::error::BodyError;

type Stream = h3::server::RequestStream<adapter::RecvStream, Bytes>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Data,
    Trailers,
    Done,
}

/// The body of an HTTP/3 request: data frames, then trailers if the client sent any.
///
/// Data is pulled from the QUIC stream only when the body is polled, so QUIC flow control
/// slows a client down when the handler reads slowly: nothing is read ahead beyond the stream's
/// receive window. If the client resets the stream or the connection is lost, polling yields a
/// [`BodyError`]. Dropping the body before its end asks the client to stop sending
/// (`STOP_SENDING` with `H3_NO_ERROR`).
pub struct RecvBody {
    stream: Option<Stream>,
    state: State,
    /// The request's `content-length`, which the data must match exactly.
    expected: Option<u64>,
    received: u64,
}

impl RecvBody {
    /// A body read from `stream`, which must carry exactly `content_length` bytes if set.
    pub(crate) fn new(stream: Stream, content_length: Option<u64>) -> Self {
        Self {
            stream: Some(stream),
            state: State::Data,
            expected: content_length,
            received: 0,
        }
    }

    /// A body with no data, for tests and for requests built by hand.
    pub fn empty() -> Self {
        Self {
            stream: None,
            state: State::Done,
            expected: None,
            received: 0,
        }
    }

    /// RFC 9114 §4.1.2: a request whose DATA does not add up to its `content-length` is
    /// malformed. hyper checks this on HTTP/1 and HTTP/2; h3 does not.
    fn mismatch(&mut self) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let expected = self.expected.unwrap_or_default();
        self.state = State::Done;
        if let Some(stream) = self.stream.as_mut() {
            stream.stop_sending(h3::error::Code::H3_MESSAGE_ERROR);
        }
        Poll::Ready(Some(Err(BodyError::Protocol {
            reason: format!(
                "the body does not match content-length {expected} ({} bytes or more)",
                self.received
            ),
        })))
    }

    fn fail(&mut self, e: h3::error::StreamError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(e.into())))
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
        loop {
            let Some(stream) = this.stream.as_mut() else {
                return Poll::Ready(None);
            };
            match this.state {
                State::Data => match ready!(stream.poll_recv_data(cx)) {
                    Ok(Some(mut buf)) => {
                        if buf.has_remaining() {
                            let data = buf.copy_to_bytes(buf.remaining());
                            this.received = this.received.saturating_add(data.len() as u64);
                            if this.expected.is_some_and(|n| this.received > n) {
                                return this.mismatch();
                            }
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    Ok(None) => {
                        if this.expected.is_some_and(|n| this.received != n) {
                            return this.mismatch();
                        }
                        this.state = State::Trailers;
                    }
                    Err(e) => return this.fail(e),
                },
                State::Trailers => match ready!(stream.poll_recv_trailers(cx)) {
                    Ok(trailers) => {
                        this.state = State::Done;
                        return Poll::Ready(trailers.map(|t: HeaderMap| Ok(Frame::trailers(t))));
                    }
                    Err(e) => return this.fail(e),
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match (self.state, self.expected) {
            (State::Done, _) => SizeHint::with_exact(0),
            (State::Data, Some(n)) => SizeHint::with_exact(n.saturating_sub(self.received)),
            (State::Trailers, Some(_)) => SizeHint::with_exact(0),
            (_, None) => SizeHint::default(),
        }
    }
}

impl Drop for RecvBody {
    fn drop(&mut self) {
        if self.state == State::Done {
            return;
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        // A request without a body (a GET, say) has usually received its end by now, unread:
        // one read that finds it spares the client a STOP_SENDING frame it does not need.
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        if self.state == State::Data
            && matches!(stream.poll_recv_data(&mut cx), Poll::Ready(Ok(None)))
        {
            return;
        }
        // RFC 9114 §4.1.1: the response does not need the rest of the request.
        stream.stop_sending(h3::error::Code::H3_NO_ERROR);
    }
}
