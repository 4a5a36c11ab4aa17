//! [`RequestBody`]: the body of a request that came over HTTP/1.1 or HTTP/2.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// How long an HTTP/2 request body a handler dropped unread is still read, and how much of it.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 * 1024;

/// The body of a request that came over HTTP/1.1 or HTTP/2: hyper's [`Incoming`], and what
/// the service receives from an [`Http`](crate::Http) transport (an axum `Router` takes it as
/// it takes any body).
///
/// An HTTP/2 request body dropped before its end (a handler that answered without reading it)
/// is still read for a moment in the background, at most 64 KiB within a second, so that
/// what the client sends right behind its request is still checked as RFC 9113 requires: a
/// `content-length` that disagrees with the DATA, or malformed trailers, reset the stream
/// with `PROTOCOL_ERROR` whether or not the handler read the body. Past that, the stream is
/// reset with `NO_ERROR` (after a complete response) so the client stops sending.
pub struct RequestBody {
    inner: Option<Incoming>,
    /// An HTTP/2 body not yet at its end: drained when dropped.
    drain: bool,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, http2: bool) -> Self {
        Self {
            drain: http2 && !inner.is_end_stream(),
            inner: Some(inner),
        }
    }

    /// hyper's body, given up to you: it is no longer drained when dropped.
    pub fn into_incoming(mut self) -> Option<Incoming> {
        self.inner.take()
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.drain = false;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if !self.drain || inner.is_end_stream() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(inner));
        }
    }
}

/// Reads and discards what is left of an HTTP/2 request body, within the bounds above.
async fn drain(mut body: Incoming) {
    let reading = async {
        let mut read = 0;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
}
