//! [`serve`]: HTTP/1.1, HTTP/2 and HTTP/3 on one port in one call, shut down gracefully on
//! Ctrl-C or SIGTERM.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use twinport_core::alt_svc::AltSvc;
use twinport_core::transport::BoxFuture;
use twinport_core::{
    transport::HttpService, transport::Transport, DrainReport, Server, ServerTls, TlsError,
    TransportError, DEFAULT_GRACE,
};
use twinport_hyper::{Http, HttpConfig, RequestBody, TlsAcceptor};
use twinport_quinn::{Builder, Http3, RecvBody};

use crate::addr::ServeAddr;

/// Serves `service` over HTTP/1.1 and HTTP/2 (TCP + TLS) and HTTP/3 (QUIC) on the same port
/// of `addr`, until Ctrl-C or SIGTERM ([`shutdown_signal`](crate::shutdown_signal)), then
/// drains for [`DEFAULT_GRACE`]. HTTP/1.1 and HTTP/2 responses advertise HTTP/3 (Alt-Svc).
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let app = Router::new().route("/", get(|| async { "hello over h1, h2 and h3" }));
///     let tls = twinport::ServerTls::from_pem_files("cert.pem", "key.pem")?;
///     twinport::serve("0.0.0.0:443", app, tls).await?;
///     Ok(())
/// }
/// ```
///
/// The sockets are bound when `serve` is called (`addr` is any [`ServeAddr`]: `"[::]:443"`,
/// a `SocketAddr`, or a TCP listener and UDP socket of your own), so
/// [`local_addr`](OnePort::local_addr) tells a port-0 address before serving starts; errors
/// (binding, TLS, QUIC) come when it is awaited. To have a bind error at once, bind first
/// with [`bind_same_port`](crate::bind_same_port) and pass the sockets. [`OnePort`]'s methods change the signal, the
/// grace period, the HTTP/1.1 + HTTP/2 limits and the HTTP/3 endpoint (WebTransport, raw QUIC
/// protocols); for everything else (PROXY protocol, Unix sockets, your own acceptors, more
/// transports) use [`Server`] with the transports.
///
/// The service must take requests of both transports' body types, as an axum `Router` or a
/// service generic over the body does; one that does not is refused at this call:
///
/// ```compile_fail
/// # fn run(tls: twinport::ServerTls) {
/// // Takes only `Request<String>`: neither HTTP/1.1 + HTTP/2 nor HTTP/3 hand it that.
/// let svc = tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// });
/// let _ = twinport::serve("127.0.0.1:0", svc, tls);
/// # }
/// ```
///
/// Wrap such a service in [`BoxRequestBodyLayer`](crate::body::BoxRequestBodyLayer) to give it
/// one body type on every protocol.
pub fn serve<S>(addr: impl ServeAddr, service: S, tls: ServerTls) -> OnePort<S>
where
    S: HttpService<RequestBody> + HttpService<RecvBody>,
{
    OnePort {
        sockets: addr.bind(),
        service,
        tls,
        signal: None,
        grace: DEFAULT_GRACE,
        http_config: None,
        http3: None,
    }
}

type Http3Setup = Box<dyn FnOnce(Builder) -> Builder + Send>;

/// What [`serve`] returns: await it to serve (it implements [`IntoFuture`]), or change it
/// first.
#[must_use = "nothing is served until it is awaited"]
pub struct OnePort<S> {
    sockets: io::Result<(TcpListener, UdpSocket)>,
    service: S,
    tls: ServerTls,
    signal: Option<BoxFuture<()>>,
    grace: Duration,
    http_config: Option<HttpConfig>,
    http3: Option<Http3Setup>,
}

impl<S> fmt::Debug for OnePort<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnePort")
            .field("local_addr", &self.local_addr())
            .field("grace", &self.grace)
            .field("http_config", &self.http_config)
            .finish_non_exhaustive()
    }
}

impl<S> OnePort<S> {
    /// The address it serves on (TCP and UDP), unless binding failed.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        let (tcp, _) = self.sockets.as_ref().ok()?;
        tcp.local_addr().ok()
    }

    /// Shuts down when `signal` completes instead of on Ctrl-C or SIGTERM, as
    /// [`Server::with_graceful_shutdown`] and `axum::serve(..).with_graceful_shutdown` do.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long requests in flight may finish after the signal, as [`Server::grace_period`]
    /// (default [`DEFAULT_GRACE`]).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The timeouts and limits of HTTP/1.1 and HTTP/2, instead of the defaults.
    pub fn http_config(mut self, config: HttpConfig) -> Self {
        self.http_config = Some(config);
        self
    }

    /// Sets up the HTTP/3 endpoint further: `setup` gets twinport-quinn's [`Builder`] with
    /// HTTP/3 added, and may add WebTransport, raw QUIC protocols or other limits.
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router, tls: twinport::ServerTls) -> Result<(), twinport::ServeError> {
    /// use twinport::quic::webtransport::WebTransportSession;
    ///
    /// async fn echo(session: WebTransportSession) -> Result<(), twinport::BoxError> {
    ///     while let Some((mut send, mut recv)) = session.accept_bi().await {
    ///         send.write_all(&recv.read_to_end(1 << 16).await?).await?;
    ///         send.finish()?;
    ///     }
    ///     Ok(())
    /// }
    ///
    /// twinport::serve("0.0.0.0:443", app, tls)
    ///     .http3(|h3| h3.webtransport("/wt/echo", echo))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn http3(mut self, setup: impl FnOnce(Builder) -> Builder + Send + 'static) -> Self {
        self.http3 = Some(Box::new(setup));
        self
    }
}

impl<S> OnePort<S>
where
    S: Clone + Send + 'static,
    Http<TlsAcceptor>: Transport<AltSvc<S>>,
    Http3: Transport<AltSvc<S>>,
{
    async fn run(self) -> Result<DrainReport, ServeError> {
        twinport_core::transport::ensure_runtime()?;
        // Listening for Ctrl-C and SIGTERM first, so that one sent as soon as serving starts
        // is not lost (and never installed when the caller brought a signal of its own).
        let signal = match self.signal {
            Some(signal) => signal,
            None => Box::pin(crate::shutdown_signal()),
        };
        let (tcp, udp) = self.sockets.map_err(ServeError::Io)?;
        let mut http = Http::from_std(tcp).map_err(ServeError::Io)?;
        if let Some(config) = self.http_config {
            http = http.config(config);
        }
        let http = http.tls(&self.tls)?;
        let mut h3 = Http3::builder(&self.tls).http3();
        if let Some(setup) = self.http3 {
            h3 = setup(h3);
        }
        let h3 = h3.socket(udp).map_err(ServeError::Http3)?;
        let report = Server::new(self.service)
            .transport(http)
            .transport(h3)
            .with_graceful_shutdown(signal)
            .grace_period(self.grace)
            .await?;
        Ok(report)
    }
}

impl<S> IntoFuture for OnePort<S>
where
    S: Clone + Send + 'static,
    Http<TlsAcceptor>: Transport<AltSvc<S>>,
    Http3: Transport<AltSvc<S>>,
{
    type Output = Result<DrainReport, ServeError>;
    type IntoFuture = BoxFuture<Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Why [`serve`] could not start or stopped.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding the address failed (it says which, and for a port below 1024 what gives the
    /// right).
    #[error(transparent)]
    Io(io::Error),
    /// It was awaited outside a tokio runtime, or in one without I/O or timers.
    #[error(transparent)]
    Runtime(#[from] twinport_core::transport::RuntimeError),
    /// The TLS configuration cannot serve HTTP/1.1 and HTTP/2.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The HTTP/3 endpoint could not be set up.
    #[error("cannot set up the HTTP/3 endpoint")]
    Http3(#[source] twinport_quinn::Error),
    /// A transport failed while serving.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The error, then each cause on its own line: what `main` prints when it returns one.
impl fmt::Debug for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        twinport_core::transport::ErrorChain::new(self).fmt_debug(f)
    }
}
