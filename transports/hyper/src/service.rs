//! hyper's view of the user's service on one connection: the core's
//! [`RequestGuard`](twinport::transport::request::RequestGuard) (which stamps the [`ConnectionInfo`],
//! opens the request span and turns a panic or an error into a `500`), as a
//! `hyper::service::Service`.
//!
//! [`ConnectionInfo`]: twinport::ConnectionInfo

use std::convert::Infallible;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use twinport::transport::request::{RequestGuard, ResponseBody, ResponseFuture, WebSocketConnect};
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
    type Future = ResponseFuture<S, RequestBody>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let websocket = is_http2_websocket(&req);
        let http2 = req.version() == http::Version::HTTP_2;
        let future = self.0.call(req.map(|body| RequestBody::new(body, http2)));
        if websocket {
            future.websocket(&HTTP2_WEBSOCKETS)
        } else {
            future
        }
    }
}

static HTTP2_WEBSOCKETS: WebSocketConnect = WebSocketConnect {
    protocol: "HTTP/2 (RFC 8441)",
    turn_off: "HttpConfig::http2_websockets(false)",
};

/// An RFC 8441 WebSocket: `CONNECT` with `:protocol websocket`.
fn is_http2_websocket<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}
