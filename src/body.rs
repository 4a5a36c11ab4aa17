//! One request body type for services that are not generic over the body.
//!
//! Each transport hands requests to the service with its own body type (hyper's `Incoming`
//! on TCP, the HTTP/3 stream on QUIC). An axum `Router` takes any of them. A plain tower
//! service written as a closure cannot, so wrap it in [`BoxRequestBodyLayer`]: every request
//! reaches it as `http::Request<twinport::body::Body>`, whatever carried it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), twinport::BoxError> {
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use twinport::body::{Body, BoxRequestBodyLayer};
//!
//! let svc = ServiceBuilder::new()
//!     .layer(BoxRequestBodyLayer::new())
//!     .service(service_fn(|req: http::Request<Body>| async move {
//!         let bytes = req.into_body().collect().await?.to_bytes();
//!         Ok::<_, twinport::BoxError>(http::Response::new(Full::new(bytes)))
//!     }));
//!
//! // Any body type goes in.
//! let res = svc.oneshot(http::Request::new(Full::new(bytes::Bytes::from("echo")))).await?;
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "echo");
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::BoxError;

/// A type-erased request body: data as [`Bytes`], errors as [`BoxError`].
#[derive(Debug)]
pub struct Body {
    inner: UnsyncBoxBody<Bytes, BoxError>,
}

impl Body {
    /// Wraps any body whose data converts to `Bytes`.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Data: Into<Bytes>,
        B::Error: Into<BoxError>,
    {
        Self {
            inner: body
                .map_frame(|f| f.map_data(Into::into))
                .map_err(Into::into)
                .boxed_unsync(),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::<Bytes>::new())
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    #[inline]
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Makes every request reach the inner service as `Request<Body>`; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxRequestBodyLayer {
    _priv: (),
}

impl BoxRequestBodyLayer {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for BoxRequestBodyLayer {
    type Service = BoxRequestBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BoxRequestBody { inner }
    }
}

/// The service made by [`BoxRequestBodyLayer`].
#[derive(Clone, Debug)]
pub struct BoxRequestBody<S> {
    inner: S,
}

impl<S> BoxRequestBody<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for BoxRequestBody<S>
where
    S: Service<Request<Body>>,
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.inner.call(req.map(Body::new))
    }
}
