//! hyper's view of the user's service on one connection: the core's
//! [`RequestGuard`](twinport::transport::request::RequestGuard) (which stamps the [`ConnectionInfo`],
//! opens the request span and turns a panic or an error into a `500`), as a
//! `hyper::service::Service`.
//!
//! [`ConnectionInfo`]: twinport::ConnectionInfo

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use twinport::transport::request::{RequestGuard, ResponseBody, ResponseFuture};
use twinport::{transport::HttpService, ConnectionInfo};

use crate::body::RequestBody;

pub(crate) struct ConnService<S>(RequestGuard<S>);

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, info: ConnectionInfo) -> Self {
        Self(RequestGuard::new(inner, info))
    }
}

impl<S: HttpService<RequestBody>> hyper::service::Service<Request<Incoming>> for ConnService<S> {
    type Response = Response<ResponseBody<S::ResBody>>;
    type Error = Infallible;
    type Future = ConnFuture<S>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let websocket = is_http2_websocket(&req).then(|| req.uri().clone());
        let http2 = req.version() == http::Version::HTTP_2;
        let req = req.map(|body| RequestBody::new(body, http2));
        ConnFuture {
            inner: self.0.call(req),
            websocket,
        }
    }
}

/// An RFC 8441 WebSocket: `CONNECT` with `:protocol websocket`.
fn is_http2_websocket<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

pin_project! {
    /// The guard's future, plus a warning when the app refuses an HTTP/2 WebSocket with
    /// `405`: a route written `get(..)` where HTTP/2 needs `any(..)`, which browsers do not
    /// work around (they open no HTTP/1.1 connection instead).
    pub(crate) struct ConnFuture<S: HttpService<RequestBody>> {
        #[pin]
        inner: ResponseFuture<S, RequestBody>,
        websocket: Option<Uri>,
    }
}

impl<S: HttpService<RequestBody>> Future for ConnFuture<S> {
    type Output = Result<Response<ResponseBody<S::ResBody>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx));
        if let (Some(uri), Ok(res)) = (this.websocket.take(), &res) {
            if res.status() == StatusCode::METHOD_NOT_ALLOWED {
                tracing::warn!(
                    path = uri.path(),
                    "an HTTP/2 WebSocket (CONNECT, RFC 8441) got 405: route it with \
                     `any(handler)` rather than `get(handler)`, or turn HTTP/2 WebSockets off \
                     with HttpConfig::http2_websockets(false)"
                );
            }
        }
        Poll::Ready(res)
    }
}
