//! [`Http3`]: the QUIC endpoint, its ALPN router, and the [`Transport`] that serves a tower
//! service over HTTP/3.

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use twinport::transport::{BoxFuture, ConnectionGauge, Event, Listen};
use twinport::{
    transport::HttpService, transport::Shutdown, transport::Transport, transport::TransportContext,
    BoxError, DrainReport, ServerTls,
};

use self::accept::{connection, Shared};
use crate::body::RecvBody;
use crate::codes::H3_NO_ERROR;
use crate::config::{AddressValidation, Http3Config, QuicConfig};
use crate::error::Error;
use crate::handler::QuicHandler;
use crate::webtransport::Routes;

/// The ALPN protocol of HTTP/3.
pub const H3_ALPN: &[u8] = b"h3";

/// How long the endpoint waits, after the last connection closed, for its close packets to
/// be acknowledged.
const IDLE_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub(crate) enum Route {
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

mod accept;
mod builder;
mod endpoints;
mod fleet_setup;
mod keys;
mod runtime;
mod steer;
mod worker_socket;
mod worker_stats;
mod workers;

pub use self::builder::Builder;
pub use self::worker_stats::{WorkerSnapshot, WorkerStats};
pub use self::workers::Steering;

/// A QUIC endpoint serving HTTP/3 for a tower service, and raw QUIC protocols by ALPN:
/// JetStream's `H3Service` and `jetstream_quic::Router` in one.
///
/// It implements [`Transport`], so a [`twinport::Server`] can run it beside a TCP transport
/// (and advertise it with Alt-Svc, shut it down gracefully); [`serve`](Self::serve) runs it
/// alone. Every request carries
/// the connection's [`ConnectionInfo`](twinport::ConnectionInfo) (transport QUIC, ALPN `h3`,
/// SNI, the client's certificate, and the client's address as of that request).
///
/// With [`Builder::workers`] it is several endpoints on one port, one per `SO_REUSEPORT`
/// socket, each handling its own connections on its own task; packets are steered to the
/// worker that owns their connection by the connection ID ([`Steering`]). With
/// [`Builder::server_id`] and [`Builder::fleet_key`] it is one instance of a fleet: its
/// connection IDs name it, and its reset and token keys come from the fleet's secret.
///
/// ```no_run
/// # async fn run(app: impl tower_service::Service<http::Request<twinport_quinn::RecvBody>, Response = http::Response<String>, Error = std::convert::Infallible, Future = std::future::Ready<Result<http::Response<String>, std::convert::Infallible>>> + Clone + Send + 'static) -> Result<(), Box<dyn std::error::Error>> {
/// let tls = twinport::ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?;
/// let http3 = twinport_quinn::Http3::bind("127.0.0.1:4433".parse()?, &tls)?;
/// http3.serve(app).await?;
/// # Ok(()) }
/// ```
pub struct Http3 {
    sockets: Vec<UdpSocket>,
    local_addr: SocketAddr,
    server_config: quinn::ServerConfig,
    routing: Option<fleet_setup::Routing>,
    fleet_key: Option<twinport::fleet::FleetKey>,
    stats: WorkerStats,
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
            .field("workers", &self.sockets.len())
            .field("routing", &self.routing)
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
            fleet: fleet_setup::FleetSetup::default(),
            error: None,
        }
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many workers (UDP sockets, each with its quinn endpoint) serve the port.
    pub fn workers(&self) -> usize {
        self.sockets.len()
    }

    /// The counters of each worker (datagrams received, forwarded, dropped; connections),
    /// which stay readable while and after the endpoint serves.
    pub fn worker_stats(&self) -> WorkerStats {
        self.stats.clone()
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
        self.run(service, TransportContext::new(Shutdown::never()))
            .await
    }

    async fn run<S>(self, service: S, ctx: TransportContext) -> Result<DrainReport, Error>
    where
        S: HttpService<RecvBody>,
    {
        twinport::transport::ensure_runtime()?;
        let endpoints = endpoints::start(endpoints::Start {
            sockets: self.sockets,
            server_config: &self.server_config,
            routing: self.routing.as_ref(),
            fleet_key: self.fleet_key.as_ref(),
            stats: &self.stats,
        })?;
        let shared = Arc::new(Shared {
            local_addr: self.local_addr,
            routes: self.routes,
            http3: self.http3,
            webtransport: self.webtransport,
            handshake_timeout: self.quic.handshake_timeout,
            max_bidi_streams: self.quic.max_bidi_streams,
            early_data: self.early_data && !self.client_auth,
            shutdown: ctx.shutdown.clone(),
            handshaking: ConnectionGauge::new(),
        });
        tracing::info!(addr = %self.local_addr, workers = endpoints.len(), "QUIC endpoint listening");
        let accepting = Accepting {
            endpoints,
            shared,
            service,
            quic: self.quic,
            connections: ctx.connections.clone(),
            stats: self.stats,
        };
        let (accepting, report) =
            twinport::transport::serve_connections("quic", accepting, &ctx).await;
        let endpoints = accepting.endpoints;
        for endpoint in &endpoints {
            endpoint.close(H3_NO_ERROR, b"server shutting down");
        }
        // Let the close packets go out (and be retransmitted if lost), within bounds.
        let idle_until = ctx
            .shutdown
            .deadline()
            .unwrap_or_else(Instant::now)
            .max(Instant::now())
            + IDLE_WAIT;
        let idle = futures_util::future::join_all(endpoints.iter().map(|e| e.wait_idle()));
        let _ = tokio::time::timeout_at(idle_until, idle).await;
        Ok(report)
    }
}

/// What `Http3` gives the core's connection lifecycle: the endpoint's next connection (past
/// the connection limit and address validation) and the task that serves it.
struct Accepting<S> {
    endpoints: Vec<quinn::Endpoint>,
    stats: WorkerStats,
    shared: Arc<Shared>,
    service: S,
    quic: QuicConfig,
    connections: ConnectionGauge,
}

impl<S: HttpService<RecvBody>> Listen for Accepting<S> {
    type Connection = BoxFuture<()>;

    async fn accept(&mut self) -> Option<BoxFuture<()>> {
        loop {
            // Only closing the endpoints ends accept, and only `run` does.
            let (worker, incoming) = endpoints::accept(&self.endpoints).await?;
            if self
                .quic
                .max_connections
                .is_some_and(|max| self.connections.live() >= max)
            {
                tracing::debug!(remote = %incoming.remote_address(), "connection limit reached: refused");
                incoming.refuse();
                Event::Refused {
                    transport: "quic",
                    reason: "limit",
                }
                .record();
                continue;
            }
            let validate = match self.quic.address_validation {
                AddressValidation::Always => true,
                AddressValidation::UnderLoad { pending_handshakes } => {
                    self.shared.handshaking.live() >= pending_handshakes
                }
            };
            if validate && !incoming.remote_address_validated() && incoming.may_retry() {
                match incoming.retry() {
                    Ok(()) => {
                        self.stats.worker(worker).retry();
                        Event::Retry.record();
                    }
                    Err(e) => tracing::debug!(error = %e, "could not send Retry"),
                }
                continue;
            }
            // Counted from here, so a burst of attempts counts before any task runs.
            let counted = self.shared.handshaking.guard();
            self.stats.worker(worker).connection();
            let (shared, service) = (self.shared.clone(), self.service.clone());
            return Some(Box::pin(connection(incoming, shared, service, counted)));
        }
    }

    fn stop_accepting(&mut self) {
        // Refuse new connections; the live ones see the shutdown and drain themselves.
        for endpoint in &self.endpoints {
            endpoint.set_server_config(None);
        }
    }

    fn cut(&mut self) {
        for endpoint in &self.endpoints {
            endpoint.close(H3_NO_ERROR, b"server shutting down");
        }
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

    fn serve(self, service: S, ctx: TransportContext) -> BoxFuture<Result<DrainReport, BoxError>> {
        Box::pin(async move { self.run(service, ctx).await.map_err(BoxError::from) })
    }
}
