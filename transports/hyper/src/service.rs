//! The per-connection glue between hyper and the user's tower service: stamps the
//! [`ConnectionInfo`] on each request, opens a span per request and turns a handler panic or
//! a service error into a `500` for that request alone.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tower_service::Service;
use twinport::{BoxError, ConnectionInfo, HttpService};

/// hyper's view of the user's service on one connection.
pub(crate) struct ConnService<S> {
    inner: S,
    info: ConnectionInfo,
}

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, info: ConnectionInfo) -> Self {
        Self { inner, info }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for ConnService<S>
where
    S: HttpService<Incoming>,
{
    type Response = Response<ResponseBody<S::ResBody>>;
    type Error = BoxError;
    type Future = ResponseFuture<S>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            uri = %req.uri(),
            version = ?req.version(),
        );
        req.extensions_mut().insert(self.info.clone());
        ResponseFuture {
            state: State::Ready {
                service: self.inner.clone(),
                req: Some(req),
            },
            span,
        }
    }
}

pin_project! {
    /// One request through the user's service: waits for it to be ready, calls it, and
    /// answers `500` if it fails or panics. A named future rather than a boxed one: hyper
    /// keeps it in the stream's task, so it costs no allocation of its own.
    pub(crate) struct ResponseFuture<S>
    where
        S: Service<Request<Incoming>>,
    {
        #[pin]
        state: State<S>,
        span: tracing::Span,
    }

    impl<S> PinnedDrop for ResponseFuture<S>
    where
        S: Service<Request<Incoming>>,
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
    enum State<S>
    where
        S: Service<Request<Incoming>>,
    {
        Ready { service: S, req: Option<Request<Incoming>> },
        Called { #[pin] future: S::Future },
        Done,
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: HttpService<Incoming>,
{
    type Output = Result<Response<ResponseBody<S::ResBody>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
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
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(res))) => {
                tracing::debug!(status = res.status().as_u16(), "response");
                Ok(res.map(|body| ResponseBody::Inner { body }))
            }
            Ok(Poll::Ready(Err(e))) => {
                // As on HTTP/3: a 500 for this request. Handing the error to hyper would
                // close an HTTP/1.1 connection without any response.
                let e: BoxError = e.into();
                tracing::error!(error = %e, "service error; answering 500");
                Ok(internal_error())
            }
            Err(panic) => {
                tracing::error!(
                    panic = panic_message(&*panic),
                    "handler panicked; answering 500"
                );
                Ok(internal_error())
            }
        };
        this.state.set(State::Done);
        Poll::Ready(result)
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "<non-string panic payload>"
    }
}

fn internal_error<B>() -> Response<ResponseBody<B>> {
    let mut res = Response::new(ResponseBody::Empty);
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("0"),
    );
    res
}

pin_project! {
    /// The service's response body, or nothing for the `500` of a panicked handler.
    #[project = ResponseBodyProj]
    pub(crate) enum ResponseBody<B> {
        Inner { #[pin] body: B },
        Empty,
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
        match self.project() {
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            ResponseBodyProj::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Empty => SizeHint::with_exact(0),
        }
    }
}
