//! The request contract every transport keeps, in one place: [`RequestGuard`].
//!
//! Whatever carried a request (HTTP/1.1, HTTP/2, HTTP/3), the transport hands it to the
//! service through a [`RequestGuard`], which
//!
//! - stamps the connection's [`ConnectionInfo`](crate::ConnectionInfo) into its extensions
//!   (and, with the `axum` feature, axum's `ConnectInfo<SocketAddr>`: see [`extract`](crate::extract)),
//! - runs the service inside the request's `req` tracing span, a child of the connection's
//!   `conn` span (both made by this module: [`connection_span`], [`request_span`]),
//! - answers `500` (with `content-length: 0`) when the service fails or panics, so one bad
//!   request never takes its connection down, and
//! - wraps the response body in a [`ResponseBody`] that turns a panic while it is polled into
//!   an error, logged at `error`: the transport then ends that response the way it ends a
//!   failing body (an HTTP/2 or HTTP/3 stream reset, an HTTP/1.1 connection closed).
//!
//! This module is for transports; applications only see its effects.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use twinport::transport::request::RequestGuard;
//! use twinport::{ConnectionInfo, ConnectionInfoExt, connection_info::TransportKind};
//!
//! let app = tower::service_fn(|req: http::Request<()>| async move {
//!     if req.uri().path() == "/panic" {
//!         panic!("a bug in a handler");
//!     }
//!     let id = req.connection_info().map(|info| info.id());
//!     Ok::<_, std::convert::Infallible>(http::Response::new(format!("{id:?}")))
//! });
//! let guard = RequestGuard::new(app, ConnectionInfo::builder(TransportKind::Tcp).build());
//!
//! let res = guard.call(http::Request::new(())).await.unwrap();
//! assert_eq!(res.status(), 200);
//! let req = http::Request::get("/panic").body(()).unwrap();
//! let res = guard.call(req).await.unwrap();
//! assert_eq!(res.status(), 500);
//! assert_eq!(res.headers()["content-length"], "0");
//! # }
//! ```

mod body;
mod future;
mod guard;
mod span;

pub use self::body::ResponseBody;
pub use self::future::{ResponseFuture, WebSocketConnect};
pub use self::guard::RequestGuard;
pub use self::span::{connection_span, record_connection, request_span};

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::{Body, Frame};
    use http_body_util::BodyExt;

    use super::*;
    use crate::{connection_info::TransportKind, BoxError, ConnectionInfo, ConnectionInfoExt};

    /// One data frame, then a panic.
    struct Panicking(bool);

    impl Body for Panicking {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if std::mem::replace(&mut self.0, true) {
                panic!("the body panics on purpose");
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"partial")))))
        }
    }

    fn guard<S>(service: S) -> RequestGuard<S> {
        RequestGuard::new(
            service,
            ConnectionInfo::builder(TransportKind::Quic).build(),
        )
    }

    #[tokio::test]
    async fn a_panicking_body_ends_with_an_error() {
        let app = tower::service_fn(|req: http::Request<()>| async move {
            assert!(req.connection_info().is_some(), "stamped");
            Ok::<_, BoxError>(http::Response::new(Panicking(false)))
        });
        let res = guard(app).call(http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 200);
        let mut body = res.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "partial");
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert!(body.frame().await.is_none(), "over after the panic");
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn a_failing_service_is_a_500() {
        let app = tower::service_fn(|_: http::Request<()>| async {
            Err::<http::Response<String>, BoxError>("down".into())
        });
        let res = guard(app).oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers()[http::header::CONTENT_LENGTH], "0");
        assert!(res.into_body().frame().await.is_none());
    }
}
