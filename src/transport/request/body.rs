//! [`ResponseBody`]: the service's response body, with a panic while it is polled turned into
//! an error.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::future::panic_message;
use crate::transport::measure::RequestMetrics;
use crate::BoxError;

pin_project! {
    /// The service's response body as a transport sends it: errors boxed, a panic in
    /// `poll_frame` caught and turned into an error (logged at `error`, in the request's
    /// span), after which the body is over. The transport ends a response whose body failed
    /// the same way, panic or not: HTTP/2 and HTTP/3 reset the stream, HTTP/1.1 closes the
    /// connection.
    pub struct ResponseBody<B> {
        #[pin]
        state: State<B>,
        span: tracing::Span,
        // Dropped when the body ends: the end of the request's duration.
        measure: Option<RequestMetrics>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<B> {
        Streaming { #[pin] body: B },
        Done,
    }
}

impl<B> ResponseBody<B> {
    pub(super) fn new(body: B, span: tracing::Span, measure: Option<RequestMetrics>) -> Self {
        Self {
            state: State::Streaming { body },
            span,
            measure,
        }
    }

    /// No body at all, as in the `500` for a failed service.
    pub(super) fn empty(measure: Option<RequestMetrics>) -> Self {
        Self {
            state: State::Done,
            span: tracing::Span::none(),
            measure,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let StateProj::Streaming { body } = this.state.as_mut().project() else {
            this.measure.take();
            return Poll::Ready(None);
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| body.poll_frame(cx)));
        let error: BoxError = match polled {
            Ok(Poll::Ready(None)) => {
                this.measure.take();
                return Poll::Ready(None);
            }
            Ok(Poll::Ready(Some(Err(e)))) => {
                let e = e.into();
                // Entered only now: HTTP/2 polls bodies in tasks of their own, outside it.
                let _entered = this.span.enter();
                tracing::debug!(error = %e, "response body failed");
                e
            }
            Ok(polled) => return polled.map_err(Into::into),
            Err(panic) => {
                let panic = panic_message(&*panic);
                let _entered = this.span.enter();
                tracing::error!(panic, "response body panicked");
                format!("the response body panicked: {panic}").into()
            }
        };
        this.state.set(State::Done);
        this.measure.take();
        Poll::Ready(Some(Err(error)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Streaming { body } => body.is_end_stream(),
            State::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Streaming { body } => body.size_hint(),
            State::Done => SizeHint::with_exact(0),
        }
    }
}
