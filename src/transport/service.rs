//! [`HttpService`]: what a tower service must be for twinport to serve it, written once.
//!
//! Every transport needs the same of a service: cloneable and sendable, with a sendable
//! future, an error it can log, and a response body it can stream from another task. Rather
//! than repeating those bounds on every function, transports ask for `S: HttpService<B>`,
//! where `B` is the request body they hand in (hyper's `Incoming`, twinport-quinn's
//! `RecvBody`). It is implemented for every service that qualifies and cannot be implemented
//! by hand.
//!
//! ```
//! use twinport::transport::HttpService;
//!
//! fn servable<S: HttpService<http_body_util::Empty<bytes::Bytes>>>(_: &S) {}
//!
//! let app = tower::service_fn(|_req: http::Request<http_body_util::Empty<bytes::Bytes>>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//! });
//! servable(&app);
//! ```

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::BoxError;

mod sealed {
    pub trait Sealed<B> {}

    impl<S, B> Sealed<B> for S {}
}

/// A tower service twinport can serve, given requests with body `B`: a shorthand for
/// `Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static` with a `Send`
/// future, an error that converts into [`BoxError`], and a `Send` response body whose data
/// is `Send` and whose error converts into [`BoxError`].
///
/// The bounds hold wherever `S: HttpService<B>` is written. Sealed: it is implemented for
/// every such service (an axum `Router`, a `tower::ServiceBuilder` stack, a `service_fn`).
pub trait HttpService<B>:
    sealed::Sealed<B>
    + Service<
        Request<B>,
        Response = Response<Self::ResBody>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type ResBody: Body<Data = Self::Data, Error = Self::BodyError> + Send + 'static;
    /// The response body's data.
    type Data: bytes::Buf + Send;
    /// The response body's error.
    type BodyError: Into<BoxError>;
}

impl<S, B, ResBody> HttpService<B> for S
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ResBody: Body + Send + 'static,
    ResBody::Data: Send,
    ResBody::Error: Into<BoxError>,
{
    type ResBody = ResBody;
    type Data = ResBody::Data;
    type BodyError = ResBody::Error;
}
