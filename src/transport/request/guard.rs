//! [`RequestGuard`]: a connection's service and [`ConnectionInfo`], the one door every
//! request goes through.

use http::Request;

use super::future::ResponseFuture;
use super::span::request_span;
use crate::transport::measure::RequestMetrics;
use crate::transport::HttpService;
use crate::ConnectionInfo;

/// The user's service as a transport calls it on one connection: see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct RequestGuard<S> {
    service: S,
    info: ConnectionInfo,
}

impl<S> RequestGuard<S> {
    /// Guards `service` for requests arriving on the connection `info` describes.
    pub fn new(service: S, info: ConnectionInfo) -> Self {
        Self { service, info }
    }

    /// The connection's info, as stamped on each request.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Calls (a clone of) the service with `req` inside a new `req` span (see
    /// [`request_span`](super::request_span)). The future never fails: a failing or
    /// panicking service yields a `500`.
    pub fn call<B>(&self, req: Request<B>) -> ResponseFuture<S, B>
    where
        S: HttpService<B>,
    {
        let span = request_span(&req, None);
        let measure = self.measure(&req);
        ResponseFuture::new(
            self.service.clone(),
            stamp(req, self.info.clone()),
            span,
            measure,
        )
    }

    /// Like [`call`](Self::call), for a guard made for one request whose task the transport
    /// runs in a [`request_span`](super::request_span) of its own (twinport-quinn opens it as
    /// soon as the head arrives, to cover the checks before the service is called): no clone
    /// of the service, no second span.
    pub fn oneshot<B>(self, req: Request<B>) -> ResponseFuture<S, B>
    where
        S: HttpService<B>,
    {
        let measure = self.measure(&req);
        ResponseFuture::new(
            self.service,
            stamp(req, self.info),
            tracing::Span::none(),
            measure,
        )
    }

    fn measure<B>(&self, req: &Request<B>) -> Option<RequestMetrics> {
        RequestMetrics::start(req.method(), req.version(), self.info.tls().is_some())
    }
}

fn stamp<B>(mut req: Request<B>, info: ConnectionInfo) -> Request<B> {
    crate::extract::stamp(req.extensions_mut(), info);
    req
}
