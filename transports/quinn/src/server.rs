//! [`Http3`]: the QUIC endpoint, its ALPN router, and the [`Transport`] that serves a tower
//! service over HTTP/3.

use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;
use twinport::request::{connection_span, record_connection};
use twinport::{
    server::BoxFuture, BoxError, ConnectionGuard, DrainReport, HttpService, ServeContext,
    ServerTls, Shutdown, Transport,
};

use crate::body::RecvBody;
use crate::codes::{
    H3_GENERAL_PROTOCOL_ERROR, H3_NO_ERROR, NO_APPLICATION_PROTOCOL, QUIC_NO_ERROR,
};
use crate::config::{AddressValidation, Http3Config, QuicConfig};
use crate::error::Error;
use crate::handler::{QuicConnection, QuicHandler};
use crate::http3::{self, Handshake};
use crate::info;
use crate::webtransport::{Routes, WebTransportHandler};

/// The ALPN protocol of HTTP/3.
pub const H3_ALPN: &[u8] = b"h3";

/// How long the endpoint waits, after the last connection closed, for its close packets to
/// be acknowledged.
const IDLE_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
enum Route {
    Http3,
    Raw(Arc<dyn QuicHandler>),
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http3 => f.write_str("Http3"),
            Self::Raw(_) => f.write_str("Raw"),
        }
    }
}

/// Builds an [`Http3`] endpoint: which protocols it speaks (in ALPN preference order) and
/// its settings. Made by [`Http3::builder`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
/// # let tls = twinport::ServerTls::from_pem(cert.cert.pem().as_bytes(), cert.key_pair.serialize_pem().as_bytes())?;
/// use twinport_quinn::{Http3, QuicConnection};
///
/// async fn echo(conn: QuicConnection) -> Result<(), twinport::BoxError> { Ok(()) }
///
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let endpoint = Http3::builder(&tls)
///     .http3()                  // "h3" first: preferred when a client offers both
///     .route(b"echo/1", echo)   // a raw QUIC protocol beside it
///     .socket(socket)?;
/// assert_eq!(endpoint.alpn_protocols(), [b"h3".to_vec(), b"echo/1".to_vec()]);
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until it is used"]
pub struct Builder {
    tls: ServerTls,
    routes: Vec<(Vec<u8>, Route)>,
    quic: QuicConfig,
    http3: Http3Config,
    webtransport: Routes,
    error: Option<Error>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("routes", &self.routes)
            .field(
                "webtransport",
                &self.webtransport.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("quic", &self.quic)
            .field("http3", &self.http3)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Builder {
    fn add(mut self, alpn: Vec<u8>, route: Route) -> Self {
        if self.error.is_some() {
            return self;
        }
        let name = String::from_utf8_lossy(&alpn).into_owned();
        if alpn.is_empty() || alpn.len() > 255 {
            self.error = Some(Error::InvalidAlpn(name));
        } else if self.routes.iter().any(|(a, _)| *a == alpn) {
            self.error = Some(Error::DuplicateAlpn(name));
        } else {
            self.routes.push((alpn, route));
        }
        self
    }

    /// Serves HTTP/3 (ALPN `h3`) at this place in the preference order.
    pub fn http3(self) -> Self {
        self.add(H3_ALPN.to_vec(), Route::Http3)
    }

    /// Hands connections that negotiate `alpn` to `handler`, at this place in the
    /// preference order. Clients offering no registered protocol are refused in the TLS
    /// handshake.
    pub fn route(self, alpn: impl AsRef<[u8]>, handler: impl QuicHandler) -> Self {
        self.add(alpn.as_ref().to_vec(), Route::Raw(Arc::new(handler)))
    }

    /// Serves WebTransport sessions opened (by extended CONNECT) on `path` with `handler`,
    /// beside ordinary requests on the same HTTP/3 connections. Needs [`http3`](Self::http3).
    /// Registering any path announces WebTransport, HTTP/3 datagrams and extended CONNECT in
    /// the server's SETTINGS; a CONNECT to an unregistered path gets `404`. See
    /// [`crate::webtransport`].
    pub fn webtransport(
        mut self,
        path: impl Into<String>,
        handler: impl WebTransportHandler,
    ) -> Self {
        if self.error.is_some() {
            return self;
        }
        let path = path.into();
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            self.error = Some(Error::InvalidWebTransportPath(path));
        } else if self.webtransport.iter().any(|(p, _)| *p == path) {
            self.error = Some(Error::DuplicateWebTransportPath(path));
        } else {
            self.webtransport.push((path, Arc::new(handler)));
        }
        self
    }

    /// Sets the QUIC transport settings.
    pub fn quic_config(mut self, config: QuicConfig) -> Self {
        self.quic = config;
        self
    }

    /// Sets the HTTP/3 settings.
    pub fn http3_config(mut self, config: Http3Config) -> Self {
        self.http3 = config;
        self
    }

    /// Binds a UDP socket on `addr` and builds the endpoint.
    pub fn bind(self, addr: SocketAddr) -> Result<Http3, Error> {
        let socket = UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        self.socket(socket)
    }

    /// Builds the endpoint on `socket`, for instance the UDP half of
    /// [`twinport::bind_same_port`].
    pub fn socket(self, socket: UdpSocket) -> Result<Http3, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.routes.is_empty() {
            return Err(Error::NoProtocols);
        }
        let serves_http3 = self.routes.iter().any(|(_, r)| matches!(r, Route::Http3));
        if !self.webtransport.is_empty() && !serves_http3 {
            return Err(Error::WebTransportWithoutHttp3);
        }
        let local_addr = socket.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        socket.set_nonblocking(true).map_err(|source| Error::Bind {
            addr: local_addr,
            source,
        })?;
        let alpn = self.routes.iter().map(|(a, _)| a.clone()).collect();
        let tls = self.tls.quic_config_with_alpn(alpn)?;
        let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)?;
        let server_config = self.quic.server(crypto)?;
        Ok(Http3 {
            socket,
            local_addr,
            server_config,
            routes: self.routes,
            quic: self.quic,
            http3: Arc::new(self.http3),
            webtransport: Arc::new(self.webtransport),
            early_data: self.tls.early_data_enabled(),
            client_auth: !matches!(self.tls.client_auth_mode(), twinport::ClientAuth::None),
        })
    }
}

/// A QUIC endpoint serving HTTP/3 for a tower service, and raw QUIC protocols by ALPN: the
/// seed's `H3Service` and `jetstream_quic::Router` in one.
///
/// It implements [`Transport`], so a [`twinport::Server`] can run it beside a TCP transport
/// (and advertise it with Alt-Svc); [`serve`](Self::serve) and
/// [`serve_with_shutdown`](Self::serve_with_shutdown) run it alone. Every request carries
/// the connection's [`ConnectionInfo`](twinport::ConnectionInfo) (transport QUIC, ALPN `h3`,
/// SNI, the client's certificate, and the client's address as of that request).
///
/// ```no_run
/// # async fn run(app: impl tower_service::Service<http::Request<twinport_quinn::RecvBody>, Response = http::Response<String>, Error = std::convert::Infallible, Future = std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>> + Clone + Send + 'static) -> Result<(), Box<dyn std::error::Error>> {
/// let tls = twinport::ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?;
/// let http3 = twinport_quinn::Http3::bind("127.0.0.1:4433".parse()?, &tls)?;
/// http3.serve(app).await?;
/// # Ok(()) }
/// ```
pub struct Http3 {
    socket: UdpSocket,
    local_addr: SocketAddr,
    server_config: quinn::ServerConfig,
    routes: Vec<(Vec<u8>, Route)>,
    quic: QuicConfig,
    http3: Arc<Http3Config>,
    webtransport: Arc<Routes>,
    early_data: bool,
    client_auth: bool,
}

impl fmt::Debug for Http3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http3")
            .field("local_addr", &self.local_addr)
            .field(
                "alpn",
                &self
                    .routes
                    .iter()
                    .map(|(a, _)| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>(),
            )
            .field("quic", &self.quic)
            .field("http3", &self.http3)
            .finish_non_exhaustive()
    }
}

impl Http3 {
    /// HTTP/3 only, on `socket` (e.g. the UDP half of [`twinport::bind_same_port`]), with the
    /// default settings.
    pub fn new(socket: UdpSocket, tls: &ServerTls) -> Result<Self, Error> {
        Self::builder(tls).http3().socket(socket)
    }

    /// HTTP/3 only, on a new UDP socket bound to `addr`, with the default settings.
    pub fn bind(addr: SocketAddr, tls: &ServerTls) -> Result<Self, Error> {
        Self::builder(tls).http3().bind(addr)
    }

    /// Starts building an endpoint that serves no protocol yet: add HTTP/3 with
    /// [`Builder::http3`] and raw protocols with [`Builder::route`].
    pub fn builder(tls: &ServerTls) -> Builder {
        Builder {
            tls: tls.clone(),
            routes: Vec::new(),
            quic: QuicConfig::default(),
            http3: Http3Config::default(),
            webtransport: Vec::new(),
            error: None,
        }
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ALPN protocols offered, in preference order.
    pub fn alpn_protocols(&self) -> Vec<Vec<u8>> {
        self.routes.iter().map(|(a, _)| a.clone()).collect()
    }

    /// Whether HTTP/3 is among them.
    pub fn serves_http3(&self) -> bool {
        self.routes.iter().any(|(_, r)| matches!(r, Route::Http3))
    }

    /// Serves `service` until the process ends or a fatal error occurs.
    pub async fn serve<S>(self, service: S) -> Result<DrainReport, Error>
    where
        S: HttpService<RecvBody>,
    {
        self.run(service, ServeContext::new(Shutdown::never()))
            .await
    }

    /// Serves `service` until `signal` completes, then stops accepting, sends GOAWAY, lets
    /// in-flight requests finish for up to `grace`, and closes what is left.
    pub async fn serve_with_shutdown<S, F>(
        self,
        service: S,
        signal: F,
        grace: Duration,
    ) -> Result<DrainReport, Error>
    where
        S: HttpService<RecvBody>,
        F: Future<Output = ()> + Send + 'static,
    {
        let (shutdown, _watching) = Shutdown::on_signal(signal, grace);
        self.run(service, ServeContext::new(shutdown)).await
    }

    async fn run<S>(self, service: S, ctx: ServeContext) -> Result<DrainReport, Error>
    where
        S: HttpService<RecvBody>,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime);
        }
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(self.server_config.clone()),
            self.socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(Error::Endpoint)?;
        let shared = Arc::new(Shared {
            local_addr: self.local_addr,
            routes: self.routes,
            http3: self.http3,
            webtransport: self.webtransport,
            handshake_timeout: self.quic.handshake_timeout,
            max_bidi_streams: self.quic.max_bidi_streams,
            early_data: self.early_data && !self.client_auth,
            shutdown: ctx.shutdown.clone(),
            handshaking: Arc::new(AtomicUsize::new(0)),
        });
        tracing::info!(addr = %self.local_addr, "QUIC endpoint listening");

        let mut connections = JoinSet::new();
        let deadline = loop {
            tokio::select! {
                deadline = ctx.shutdown.draining() => break deadline,
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else {
                        // Only closing the endpoint ends accept, and only this function does.
                        return Ok(DrainReport::new(0));
                    };
                    if self.quic.max_connections.is_some_and(|max| ctx.connections.live() >= max) {
                        tracing::debug!(remote = %incoming.remote_address(), "connection limit reached: refused");
                        incoming.refuse();
                        continue;
                    }
                    let validate = match self.quic.address_validation {
                        AddressValidation::Always => true,
                        AddressValidation::UnderLoad { pending_handshakes } => {
                            shared.handshaking.load(Ordering::Relaxed) >= pending_handshakes
                        }
                    };
                    if validate && !incoming.remote_address_validated() && incoming.may_retry() {
                        if let Err(e) = incoming.retry() {
                            tracing::debug!(error = %e, "could not send Retry");
                        }
                        continue;
                    }
                    let guard = ctx.connections.guard();
                    // Counted from here, so a burst of attempts counts before any task runs.
                    let counted = Handshaking::new(&shared.handshaking);
                    connections.spawn(connection(incoming, shared.clone(), service.clone(), guard, counted));
                }
                Some(joined) = connections.join_next(), if !connections.is_empty() => {
                    if let Err(e) = joined {
                        if e.is_panic() {
                            tracing::error!("a QUIC connection task panicked");
                        }
                    }
                }
            }
        };

        // Refuse new connections; the live ones see the shutdown and drain themselves.
        endpoint.set_server_config(None);
        tracing::info!(live = connections.len(), "QUIC endpoint draining");
        let drained = tokio::time::timeout_at(deadline, async {
            while connections.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        let cut = if drained { 0 } else { connections.len() };
        if cut > 0 {
            tracing::warn!(
                cut,
                "grace period over: closing the remaining QUIC connections"
            );
        }
        endpoint.close(H3_NO_ERROR, b"server shutting down");
        connections.shutdown().await;
        // Let the close packets go out (and be retransmitted if lost), within bounds.
        let idle_until = deadline.max(Instant::now()) + IDLE_WAIT;
        let _ = tokio::time::timeout_at(idle_until, endpoint.wait_idle()).await;
        Ok(DrainReport::new(cut))
    }
}

impl<S> Transport<S> for Http3
where
    S: HttpService<RecvBody>,
{
    fn name(&self) -> &'static str {
        "quic"
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        Some(self.local_addr)
    }

    fn http3_port(&self) -> Option<u16> {
        self.serves_http3().then_some(self.local_addr.port())
    }

    fn serve(self, service: S, ctx: ServeContext) -> BoxFuture<Result<DrainReport, BoxError>> {
        Box::pin(async move { self.run(service, ctx).await.map_err(BoxError::from) })
    }
}

struct Shared {
    local_addr: SocketAddr,
    routes: Vec<(Vec<u8>, Route)>,
    http3: Arc<Http3Config>,
    webtransport: Arc<Routes>,
    handshake_timeout: Duration,
    max_bidi_streams: u32,
    early_data: bool,
    shutdown: Shutdown,
    handshaking: Arc<AtomicUsize>,
}

/// Counts one handshake in progress until dropped.
struct Handshaking(Arc<AtomicUsize>);

impl Handshaking {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Completes the handshake by `deadline`. With 0-RTT on, returns as soon as the client's
/// early data may be read, with the [`Handshake`] to wait on; the handshake stays counted
/// and bound by `deadline` until it completes, and the connection is closed if it does not.
async fn handshake(
    incoming: quinn::Incoming,
    shared: &Shared,
    counted: Handshaking,
    deadline: Instant,
) -> Result<(quinn::Connection, Option<Handshake>), BoxError> {
    let mut connecting = incoming.accept()?;
    if !shared.early_data {
        return Ok((connecting.await?, None));
    }
    connecting.handshake_data().await?;
    match connecting.into_0rtt() {
        Ok((conn, connected)) => {
            let handshake = Handshake::new(connected, conn.clone(), deadline);
            let (watched, closing) = (handshake.clone(), conn.clone());
            tokio::spawn(async move {
                let _counted = counted;
                if !watched.completed().await {
                    tracing::debug!("QUIC handshake did not complete in time");
                    closing.close(QUIC_NO_ERROR, b"handshake timed out");
                }
            });
            Ok((conn, Some(handshake)))
        }
        Err(connecting) => Ok((connecting.await?, None)),
    }
}

async fn connection<S>(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    service: S,
    _guard: ConnectionGuard,
    counted: Handshaking,
) where
    S: HttpService<RecvBody>,
{
    let remote = incoming.remote_address();
    let deadline = Instant::now() + shared.handshake_timeout;
    let handshake =
        tokio::time::timeout_at(deadline, handshake(incoming, &shared, counted, deadline));
    let (conn, handshake) = match handshake.await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "QUIC handshake timed out");
            return;
        }
    };
    let info = match info::connection_info(&conn, shared.local_addr) {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(%remote, error = %e, "unreadable client certificate");
            conn.close(H3_GENERAL_PROTOCOL_ERROR, b"bad client certificate");
            return;
        }
    };
    let span = connection_span("quic", Some(remote));
    record_connection(&span, &info, info.alpn_str().unwrap_or(""));
    let route = info
        .alpn()
        .and_then(|alpn| shared.routes.iter().find(|(a, _)| a == alpn))
        .map(|(_, route)| route.clone());
    async move {
        tracing::debug!("connection accepted");
        match route {
            Some(Route::Http3) => {
                http3::serve_connection(
                    conn,
                    info,
                    service,
                    shared.http3.clone(),
                    shared.webtransport.clone(),
                    shared.shutdown.clone(),
                    handshake,
                    shared.max_bidi_streams,
                )
                .await
            }
            Some(Route::Raw(handler)) => {
                // A raw protocol cannot tell early data from the rest: it gets the connection
                // once the handshake is complete.
                if let Some(handshake) = handshake {
                    if !handshake.completed().await {
                        tracing::debug!("QUIC handshake did not complete");
                        return;
                    }
                }
                let raw = QuicConnection {
                    connection: conn,
                    info,
                    shutdown: shared.shutdown.clone(),
                };
                if let Err(e) = handler.handle(raw).await {
                    tracing::debug!(error = %e, "QUIC handler failed");
                }
            }
            None => {
                // rustls only agrees on a registered protocol; a client that offered none
                // at all gets here.
                conn.close(NO_APPLICATION_PROTOCOL, b"no application protocol");
            }
        }
        tracing::debug!("connection done");
    }
    .instrument(span)
    .await
}
