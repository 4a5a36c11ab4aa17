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
}

impl RecvBody {
    pub(crate) fn new(stream: Stream) -> Self {
        Self {
            stream: Some(stream),
            state: State::Data,
        }
    }

    /// A body with no data, for tests and for requests built by hand.
    pub fn empty() -> Self {
        Self {
            stream: None,
            state: State::Done,
        }
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
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                    }
                    Ok(None) => this.state = State::Trailers,
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
        SizeHint::default()
    }
}

impl Drop for RecvBody {
    fn drop(&mut self) {
        if self.state != State::Done {
            if let Some(stream) = self.stream.as_mut() {
                // RFC 9114 §4.1.1: the response does not need the rest of the request.
                stream.stop_sending(h3::error::Code::H3_NO_ERROR);
            }
        }
    }
}
