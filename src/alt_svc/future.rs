//! [`ResponseFuture`]: the response of [`AltSvc`](super::AltSvc), with the header added
//! unless the handler set one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::ALT_SVC;
use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`AltSvc`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        value: Option<Arc<HeaderValue>>,
    }
}

impl<F> ResponseFuture<F> {
    /// The response of `inner`, with `value` added to it unless it already has the header.
    pub(super) fn new(inner: F, value: Option<Arc<HeaderValue>>) -> Self {
        Self { inner, value }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = std::task::ready!(this.inner.poll(cx))?;
        if let Some(value) = this.value.take() {
            res.headers_mut()
                .entry(ALT_SVC)
                .or_insert_with(|| HeaderValue::clone(&value));
        }
        Poll::Ready(Ok(res))
    }
}
