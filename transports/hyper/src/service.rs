//! hyper's view of the user's service on one connection: the core's
//! [`RequestGuard`](twinport::request::RequestGuard) (which stamps the [`ConnectionInfo`],
//! opens the request span and turns a panic or an error into a `500`), as a
//! `hyper::service::Service`.
//!
//! [`ConnectionInfo`]: twinport::ConnectionInfo

use std::convert::Infallible;

use http::{Request, Response};
use hyper::body::Incoming;
use twinport::request::{RequestGuard, ResponseBody, ResponseFuture};
use twinport::{ConnectionInfo, HttpService};

pub(crate) struct ConnService<S>(RequestGuard<S>);

impl<S> ConnService<S> {
    pub(crate) fn new(inner: S, info: ConnectionInfo) -> Self {
        Self(RequestGuard::new(inner, info))
    }
}

impl<S: HttpService<Incoming>> hyper::service::Service<Request<Incoming>> for ConnService<S> {
    type Response = Response<ResponseBody<S::ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S, Incoming>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.0.call(req)
    }
}
