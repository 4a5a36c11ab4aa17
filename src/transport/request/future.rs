//! [`ResponseFuture`]: one request through the user's service, a `500` if it fails or panics.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use crate::error_chain::ErrorChain;
use crate::transport::measure::RequestMetrics;
use crate::transport::HttpService;
use crate::BoxError;

pin_project! {
    /// One request through the user's service: waits for it to be ready, calls it, and
    /// answers `500` if it fails or panics, all inside the request's span. A named future
    /// rather than a boxed one: the transport keeps it in the request's task, so it costs no
    /// allocation of its own. Made by [`RequestGuard`](super::RequestGuard).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, B>
    where
        S: HttpService<B>,
    {
        #[pin]
        state: State<S, B>,
        span: tracing::Span,
        websocket: Option<&'static WebSocketConnect>,
        measure: Option<RequestMetrics>,
    }

    impl<S, B> PinnedDrop for ResponseFuture<S, B>
    where
        S: HttpService<B>,
    {
        // A handler dropped unfinished (its client went away) is dropped inside its request's
        // span, so what it logs then is still attributed to the request.
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let _entered = this.span.enter();
            this.state.set(State::Done);
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: HttpService<B>,
    {
        Ready { service: S, req: Option<Request<B>> },
        Called { #[pin] future: S::Future },
        Done,
    }
}

impl<S: HttpService<B>, B> ResponseFuture<S, B> {
    pub(super) fn new(
        service: S,
        req: Request<B>,
        span: tracing::Span,
        measure: Option<RequestMetrics>,
    ) -> Self {
        Self {
            state: State::Ready {
                service,
                req: Some(req),
            },
            span,
            websocket: None,
            measure,
        }
    }

    /// Marks the request as a WebSocket opened with an extended CONNECT, so that a `405`
    /// from the app is logged with how to fix it (in the request's span, on every protocol).
    pub fn websocket(mut self, connect: &'static WebSocketConnect) -> Self {
        self.websocket = Some(connect);
        self
    }
}

/// How a transport carries WebSockets over extended CONNECT, for the warning logged when an
/// app answers one `405`: a route written `get(handler)` where these need `any(handler)`.
/// Browsers do not fall back to HTTP/1.1 then, so the WebSocket just fails.
#[derive(Debug)]
pub struct WebSocketConnect {
    /// The protocol and its RFC, as in "HTTP/2 (RFC 8441)".
    pub protocol: &'static str,
    /// The setting that turns them off, as in "HttpConfig::http2_websockets(false)".
    pub turn_off: &'static str,
}

impl<S: HttpService<B>, B> Future for ResponseFuture<S, B> {
    type Output = Result<Response<ResponseBody<S::ResBody>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let entered = this.span.enter();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| loop {
            match this.state.as_mut().project() {
                StateProj::Ready { service, req } => {
                    if let Err(e) = ready!(service.poll_ready(cx)) {
                        return Poll::Ready(Err(e));
                    }
                    let Some(req) = req.take() else {
                        // Only reachable after a panic, which ends the future below.
                        return Poll::Pending;
                    };
                    let future = service.call(req);
                    this.state.set(State::Called { future });
                }
                StateProj::Called { future } => return future.poll(cx),
                StateProj::Done => return Poll::Pending,
            }
        }));
        let response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(res))) => {
                tracing::debug!(status = res.status().as_u16(), "response");
                if let Some(connect) = this.websocket {
                    if res.status() == StatusCode::METHOD_NOT_ALLOWED {
                        warn_websocket_405(connect);
                    }
                }
                Some(res)
            }
            Ok(Poll::Ready(Err(e))) => {
                // A 500 for this request. Handing the error to the transport would close an
                // HTTP/1.1 connection without any response.
                let e: BoxError = e.into();
                tracing::error!(error = %ErrorChain::new(&*e), "service error; answering 500");
                None
            }
            Err(panic) => {
                tracing::error!(
                    panic = panic_message(&*panic),
                    "handler panicked; answering 500"
                );
                None
            }
        };
        // The service's future is dropped inside the span too.
        this.state.set(State::Done);
        drop(entered);
        // The measure moves on to the body, whose end ends the request's duration.
        let mut measure = this.measure.take();
        if let Some(measure) = &mut measure {
            match &response {
                Some(res) => measure.answered(res.status(), Some(res.extensions())),
                None => measure.answered(StatusCode::INTERNAL_SERVER_ERROR, None),
            }
        }
        Poll::Ready(Ok(match response {
            Some(res) => {
                // The span moves on to the body (no clone), which logs in it if it fails.
                let span = std::mem::replace(this.span, tracing::Span::none());
                res.map(|body| ResponseBody::new(body, span, measure))
            }
            None => internal_error(measure),
        }))
    }
}

fn warn_websocket_405(connect: &WebSocketConnect) {
    tracing::warn!(
        "a WebSocket over {} (extended CONNECT) got 405: route it with `any(handler)` \
         rather than `get(handler)`, or turn these WebSockets off with {}",
        connect.protocol,
        connect.turn_off
    );
}

pub(super) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

fn internal_error<B>(measure: Option<RequestMetrics>) -> Response<ResponseBody<B>> {
    let mut res = Response::new(ResponseBody::empty(measure));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("0"),
    );
    res
}
