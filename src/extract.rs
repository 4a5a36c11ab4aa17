//! Reading the [`ConnectionInfo`] of a request, with or without axum, and putting one there.
//!
//! On a plain tower service, [`ConnectionInfoExt`] reads it from an `http::Request` or its
//! `Parts`. With the `axum` feature (on by default), `ConnectionInfo`, `Option<ConnectionInfo>`
//! and [`ClientCert`] are extractors, and every request also carries axum's own
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) — the client's address as
//! [`ConnectionInfo::remote_addr`] gives it (on QUIC, as of this request; behind a PROXY
//! protocol balancer, the client it reported) — so apps written for axum's
//! `into_make_service_with_connect_info::<SocketAddr>()` work unchanged.
//! [`AddConnectionInfoLayer`] stamps one on every request: transports use it, and so can
//! handler tests.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use twinport::{extract::AddConnectionInfoLayer, ConnectionInfo, connection_info::TransportKind};
//!
//! async fn whoami(info: ConnectionInfo) -> String {
//!     format!("{} from {:?}", info.transport(), info.remote_addr())
//! }
//!
//! let info = ConnectionInfo::builder(TransportKind::Quic)
//!     .remote_addr("192.0.2.1:4000".parse().unwrap())
//!     .build();
//! let app = Router::new()
//!     .route("/", get(whoami))
//!     .layer(AddConnectionInfoLayer::new(info));
//!
//! let res = app
//!     .oneshot(http::Request::new(axum::body::Body::empty()))
//!     .await
//!     .unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```

use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::connection_info::ConnectionInfo;

/// Reads the [`ConnectionInfo`] a twinport transport put on a request.
///
/// ```
/// use twinport::ConnectionInfoExt;
///
/// fn log_peer<B>(req: &http::Request<B>) {
///     match req.connection_info() {
///         Some(info) => println!("{} via {}", req.uri(), info.transport()),
///         None => println!("{} (not served by twinport)", req.uri()),
///     }
/// }
/// log_peer(&http::Request::new(()));
/// ```
pub trait ConnectionInfoExt {
    /// The connection's info, when a twinport transport (or a test layer) added it.
    fn connection_info(&self) -> Option<&ConnectionInfo>;
}

impl<B> ConnectionInfoExt for Request<B> {
    fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.extensions().get()
    }
}

impl ConnectionInfoExt for http::request::Parts {
    fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.extensions.get()
    }
}

impl ConnectionInfoExt for Extensions {
    fn connection_info(&self) -> Option<&ConnectionInfo> {
        self.get()
    }
}

/// Inserts a clone of one [`ConnectionInfo`] into every request: for handler tests that fake a
/// connection (like axum's `MockConnectInfo`), and for transports of your own.
#[derive(Clone, Debug)]
pub struct AddConnectionInfoLayer {
    info: ConnectionInfo,
}

impl AddConnectionInfoLayer {
    /// Stamps `info` on every request.
    pub fn new(info: ConnectionInfo) -> Self {
        Self { info }
    }
}

impl<S> Layer<S> for AddConnectionInfoLayer {
    type Service = AddConnectionInfo<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddConnectionInfo::new(inner, self.info.clone())
    }
}

/// The service made by [`AddConnectionInfoLayer`]; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct AddConnectionInfo<S> {
    inner: S,
    info: ConnectionInfo,
}

impl<S> AddConnectionInfo<S> {
    /// Wraps `inner`, stamping `info` on each request.
    pub fn new(inner: S, info: ConnectionInfo) -> Self {
        Self { inner, info }
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

impl<S, B> Service<Request<B>> for AddConnectionInfo<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        stamp(req.extensions_mut(), self.info.clone());
        self.inner.call(req)
    }
}

/// Puts `info` in a request's extensions, as every transport does (through
/// [`RequestGuard`](crate::transport::request::RequestGuard)) and [`AddConnectionInfo`]: the
/// [`ConnectionInfo`] itself and, with the `axum` feature, axum's
/// `ConnectInfo<SocketAddr>` holding [`ConnectionInfo::remote_addr`] (when there is one), so
/// that handlers written for `into_make_service_with_connect_info::<SocketAddr>()` work
/// unchanged.
pub(crate) fn stamp(extensions: &mut Extensions, info: ConnectionInfo) {
    #[cfg(feature = "axum")]
    if let Some(addr) = info.remote_addr() {
        extensions.insert(axum::extract::ConnectInfo(addr));
    }
    extensions.insert(info);
}

#[cfg(feature = "axum")]
pub use self::axum_impl::{ClientCert, ClientCertRejection, MissingConnectionInfo};

#[cfg(feature = "axum")]
mod axum_impl {
    use std::ops::Deref;

    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;
    use http::StatusCode;

    use super::ConnectionInfoExt;
    use crate::connection_info::ConnectionInfo;
    use crate::peer_certificate::PeerCertificate;

    const MISSING: &str = "no ConnectionInfo on this request: serve the service with a twinport \
        transport, or add twinport::extract::AddConnectionInfoLayer in tests";

    /// Rejection of the [`ConnectionInfo`] extractor: the request was not served by twinport.
    ///
    /// Answers 500 Internal Server Error: it is a server set-up mistake, not the client's.
    // Repeated from the module so that docs of a crate re-exporting it (`twinport`) say
    // which feature it needs.
    #[cfg(feature = "axum")]
    #[derive(Debug, Clone, Copy, Default, thiserror::Error)]
    #[error("{MISSING}")]
    #[non_exhaustive]
    pub struct MissingConnectionInfo;

    impl IntoResponse for MissingConnectionInfo {
        fn into_response(self) -> Response {
            (StatusCode::INTERNAL_SERVER_ERROR, MISSING).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for ConnectionInfo {
        type Rejection = MissingConnectionInfo;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .connection_info()
                .cloned()
                .ok_or(MissingConnectionInfo)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for ConnectionInfo {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.connection_info().cloned())
        }
    }

    /// Extracts the client's verified certificate; rejects with 401 when there is none.
    ///
    /// Dereferences to [`PeerCertificate`]; [`ClientCert::connection_info`] gives the rest of the
    /// connection. Use `Option<ClientCert>` where anonymous clients are welcome too.
    ///
    /// ```
    /// use twinport::ClientCert;
    ///
    /// async fn hello(cert: ClientCert) -> String {
    ///     format!("hello {}", cert.common_name().unwrap_or("stranger"))
    /// }
    /// let _app: axum::Router = axum::Router::new().route("/", axum::routing::get(hello));
    /// ```
    // Repeated from the module so that docs of a crate re-exporting it (`twinport`) say
    // which feature it needs.
    #[cfg(feature = "axum")]
    #[derive(Clone, Debug)]
    pub struct ClientCert(ConnectionInfo);

    impl ClientCert {
        /// The connection the certificate was presented on.
        pub fn connection_info(&self) -> &ConnectionInfo {
            &self.0
        }

        /// The certificate.
        pub fn certificate(&self) -> &PeerCertificate {
            self
        }
    }

    impl Deref for ClientCert {
        type Target = PeerCertificate;

        fn deref(&self) -> &PeerCertificate {
            match self.0.client_certificate() {
                Some(cert) => cert,
                // ClientCert is only built when the certificate is there.
                None => unreachable!("ClientCert without a client certificate"),
            }
        }
    }

    /// Rejection of the [`ClientCert`] extractor.
    // Repeated from the module so that docs of a crate re-exporting it (`twinport`) say
    // which feature it needs.
    #[cfg(feature = "axum")]
    #[derive(Debug, Clone, Copy, thiserror::Error)]
    #[non_exhaustive]
    pub enum ClientCertRejection {
        /// The request was not served by twinport (500).
        #[error(transparent)]
        MissingConnectionInfo(#[from] MissingConnectionInfo),
        /// The client presented no certificate, or the connection is not TLS (401).
        #[error(
            "this resource needs a client certificate: connect over TLS with a certificate \
             signed by a CA the server trusts (the server must enable client authentication)"
        )]
        NoClientCertificate,
    }

    impl IntoResponse for ClientCertRejection {
        fn into_response(self) -> Response {
            match self {
                Self::MissingConnectionInfo(m) => m.into_response(),
                Self::NoClientCertificate => {
                    (StatusCode::UNAUTHORIZED, self.to_string()).into_response()
                }
            }
        }
    }

    fn client_cert(parts: &Parts) -> Result<ClientCert, ClientCertRejection> {
        let info = parts.connection_info().ok_or(MissingConnectionInfo)?;
        if info.client_certificate().is_none() {
            return Err(ClientCertRejection::NoClientCertificate);
        }
        Ok(ClientCert(info.clone()))
    }

    impl<S: Send + Sync> FromRequestParts<S> for ClientCert {
        type Rejection = ClientCertRejection;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            client_cert(parts)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientCert {
        type Rejection = MissingConnectionInfo;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            match client_cert(parts) {
                Ok(c) => Ok(Some(c)),
                Err(ClientCertRejection::NoClientCertificate) => Ok(None),
                Err(ClientCertRejection::MissingConnectionInfo(m)) => Err(m),
            }
        }
    }
}

#[cfg(all(test, feature = "axum"))]
mod tests {
    use super::*;
    use crate::{
        connection_info::PeerCertificate, connection_info::TlsInfo, connection_info::TransportKind,
    };
    use axum::{body::Body, routing::get, Router};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(app: Router, info: Option<ConnectionInfo>) -> (u16, String) {
        let app = match info {
            Some(info) => app.layer(AddConnectionInfoLayer::new(info)),
            None => app,
        };
        let res = app
            .oneshot(Request::new(Body::empty()))
            .await
            .unwrap_or_else(|e| match e {});
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    fn tcp() -> ConnectionInfo {
        ConnectionInfo::builder(TransportKind::Tcp)
            .remote_addr("127.0.0.1:5000".parse().unwrap())
            .build()
    }

    fn with_cert() -> ConnectionInfo {
        let cert = rcgen::generate_simple_self_signed(vec!["bob.example".into()]).unwrap();
        let peer = PeerCertificate::from_chain(vec![cert.cert.der().clone()]).unwrap();
        ConnectionInfo::builder(TransportKind::Quic)
            .tls(TlsInfo::builder().peer_certificate(peer).build())
            .build()
    }

    #[tokio::test]
    async fn present_absent_twice_and_optional() {
        let app = Router::new().route(
            "/",
            get(|a: ConnectionInfo, b: ConnectionInfo| async move {
                assert_eq!(a.id(), b.id());
                format!("{}", a.id())
            }),
        );
        let info = tcp();
        assert_eq!(
            call(app.clone(), Some(info.clone())).await,
            (200, info.id().to_string())
        );
        let (status, body) = call(app, None).await;
        assert_eq!(status, 500);
        assert!(body.contains("AddConnectionInfoLayer"), "{body}");

        let app = Router::new().route(
            "/",
            get(|a: Option<ConnectionInfo>| async move { format!("{}", a.is_some()) }),
        );
        assert_eq!(call(app.clone(), None).await, (200, "false".into()));
        assert_eq!(call(app, Some(tcp())).await, (200, "true".into()));
    }

    #[tokio::test]
    async fn client_cert_is_401_without_a_certificate() {
        let app = Router::new().route(
            "/",
            get(|c: ClientCert| async move { c.dns_names().collect::<Vec<_>>().join(",") }),
        );
        let (status, body) = call(app.clone(), Some(tcp())).await;
        assert_eq!(status, 401);
        assert!(body.contains("client certificate"), "{body}");
        assert_eq!(
            call(app.clone(), Some(with_cert())).await,
            (200, "bob.example".into())
        );
        assert_eq!(call(app, None).await.0, 500);

        let app = Router::new().route(
            "/",
            get(|c: Option<ClientCert>| async move { format!("{}", c.is_some()) }),
        );
        assert_eq!(call(app.clone(), Some(tcp())).await, (200, "false".into()));
        assert_eq!(call(app, Some(with_cert())).await, (200, "true".into()));
    }

    #[test]
    fn plain_requests_and_parts() {
        let mut req = Request::new(());
        assert!(req.connection_info().is_none());
        let info = tcp();
        req.extensions_mut().insert(info.clone());
        assert_eq!(req.connection_info().map(|i| i.id()), Some(info.id()));
        let (parts, ()) = req.into_parts();
        assert_eq!(parts.connection_info().map(|i| i.id()), Some(info.id()));
    }
}
