//! [`AltSvc`]: the service that adds the header to the responses that should carry it.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, Version};
use tower_service::Service;

use super::ResponseFuture;
use crate::ConnectionInfo;

/// How many of a connection's first responses carry the header (see the
/// [module docs](crate::alt_svc)). More than one: the first request of a connection may be
/// cancelled before its response, or be one whose headers a client does not look at (a
/// preflight, a prefetch).
pub const FIRST_RESPONSES: u32 = 8;

/// After the first [`FIRST_RESPONSES`], one response in this many carries the header.
pub const RESPONSE_INTERVAL: u32 = 64;

/// Whether the request numbered `turn` on its connection (0 for the first) gets the header.
pub(super) fn is_advertised_turn(turn: u32) -> bool {
    turn < FIRST_RESPONSES || turn.is_multiple_of(RESPONSE_INTERVAL)
}

/// The service made by [`AltSvcLayer`](super::AltSvcLayer); see the [module docs](crate::alt_svc).
#[derive(Clone, Debug)]
pub struct AltSvc<S> {
    inner: S,
    // Behind an `Arc`: the transports clone the service for every request, and most
    // requests do not send the header. 8 bytes in every request's future instead of 40.
    value: Option<Arc<HeaderValue>>,
    pub(super) every_response: bool,
}

impl<S> AltSvc<S> {
    /// Wraps `inner`; with `None`, responses pass through untouched. The header goes on each
    /// connection's first responses and a sample of the later ones (see the
    /// [module docs](crate::alt_svc)); a `clear` value on every response.
    pub fn new(inner: S, value: Option<HeaderValue>) -> Self {
        let every_response = value.as_ref().is_some_and(|v| v == "clear");
        Self {
            inner,
            value: value.map(Arc::new),
            every_response,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> AltSvc<S> {
    /// Whether this (non-HTTP/3) request's response gets the header.
    fn advertises<B>(&self, req: &Request<B>) -> bool {
        if self.every_response {
            return true;
        }
        match req.extensions().get::<ConnectionInfo>() {
            Some(info) => is_advertised_turn(info.next_alt_svc_turn()),
            None => true,
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AltSvc<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let value = match &self.value {
            Some(value) if req.version() != Version::HTTP_3 && self.advertises(&req) => {
                Some(Arc::clone(value))
            }
            _ => None,
        };
        ResponseFuture::new(self.inner.call(req), value)
    }
}
