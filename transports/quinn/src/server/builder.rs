//! [`Builder`]: which protocols an [`Http3`] endpoint speaks, in ALPN preference order, and
//! its settings.

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use twinport::ServerTls;

use super::fleet_setup::FleetSetup;
use super::workers::{self, Steering};
use super::{Http3, Route, H3_ALPN};
use crate::config::{Http3Config, QuicConfig};
use crate::error::Error;
use crate::handler::QuicHandler;
use crate::webtransport::{Routes, WebTransportHandler};

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
    pub(super) tls: ServerTls,
    pub(super) routes: Vec<(Vec<u8>, Route)>,
    pub(super) quic: QuicConfig,
    pub(super) http3: Http3Config,
    pub(super) webtransport: Routes,
    pub(super) fleet: FleetSetup,
    pub(super) error: Option<Error>,
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
            .field("fleet", &self.fleet)
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

    /// Serves QUIC with `n` workers (1 by default): `n` UDP sockets on the one port
    /// (`SO_REUSEPORT`), each with its own quinn endpoint, so that packet processing uses
    /// `n` cores. All serve the one service under one lifecycle (shutdown, connection limits
    /// and the drain report cover them all). Each worker issues connection IDs that name it
    /// (QUIC-LB, see [`server_id`](Self::server_id)), and packets are steered to the worker
    /// that owns their connection ([`steering`](Self::steering)), so a client that changes
    /// address or port keeps its connection. `0` is refused; at most 256.
    pub fn workers(mut self, n: usize) -> Self {
        self.fleet.workers = n;
        self
    }

    /// How packets reach their worker: in the kernel (the default, on Linux) or forwarded
    /// between workers. See [`Steering`].
    pub fn steering(mut self, steering: Steering) -> Self {
        self.fleet.steering = steering;
        self
    }

    /// This instance's part of the server ID in its connection IDs (1 to 14 bytes; the
    /// worker index is appended as the last byte of the QUIC-LB server ID), so that a
    /// QUIC-LB load balancer can route by connection ID and every instance of a fleet can
    /// tell its own connections from another's. Give every instance behind one load balancer
    /// its own ID. Without it (and with one worker) connection IDs are random.
    pub fn server_id(mut self, id: impl AsRef<[u8]>) -> Self {
        self.fleet.instance_id = Some(id.as_ref().to_vec());
        self
    }

    /// The length of the random part of each connection ID (8 by default, at least 4); with
    /// the first octet and the server ID, a connection ID may not exceed 20 bytes.
    pub fn connection_id_nonce(mut self, bytes: usize) -> Self {
        self.fleet.nonce_len = bytes;
        self
    }

    /// Derives the endpoint's keys from the fleet's secret instead of random ones: the
    /// stateless-reset key of each (server ID, worker), so that an instance restarted with
    /// the same [`server_id`](Self::server_id) resets its old connections at once (and no
    /// instance can forge another's resets), and the Retry / NEW_TOKEN key that every
    /// instance shares, so a token one instance gave is honoured by the others. Session
    /// tickets come from the same key through [`ServerTls::fleet_key`].
    ///
    /// The reset keys are derived only for an instance with a [`server_id`](Self::server_id):
    /// without one, they stay random (instances left unnamed would share them).
    pub fn fleet_key(mut self, key: &twinport::fleet::FleetKey) -> Self {
        self.fleet.key = Some(key.clone());
        self
    }

    /// Binds a UDP socket on `addr` (one per worker) and builds the endpoint.
    ///
    /// With several workers, an address already held by another socket (a live
    /// `SO_REUSEPORT` group of an old instance, say) is refused with
    /// [`Error::AddressInUse`] rather than joined.
    pub fn bind(self, addr: SocketAddr) -> Result<Http3, Error> {
        let sockets = if self.fleet.workers > 1 {
            workers::bind_group(addr, self.fleet.workers)?
        } else {
            vec![UdpSocket::bind(addr).map_err(|source| Error::Bind { addr, source })?]
        };
        self.sockets(sockets)
    }

    /// Builds the endpoint on `socket`, for instance the UDP half of
    /// [`twinport::bind_same_port`] or a socket inherited from systemd.
    ///
    /// With several [`workers`](Self::workers), `socket` must have `SO_REUSEPORT` (systemd:
    /// `ReusePort=yes`): the other workers' sockets join its group, deliberately. The old
    /// instance must be gone by then (as systemd has it on a restart), or packets steered to
    /// its sockets are lost.
    pub fn socket(self, socket: UdpSocket) -> Result<Http3, Error> {
        let more = self.fleet.workers.saturating_sub(1);
        if more == 0 {
            return self.sockets(vec![socket]);
        }
        if !workers::reuses_port(&socket) {
            return Err(Error::Config {
                name: "workers",
                reason: format!(
                    "{} workers need the given socket to have SO_REUSEPORT (systemd: ReusePort=yes)",
                    self.fleet.workers
                ),
            });
        }
        let mut sockets = workers::join_group(&socket, more)?;
        sockets.insert(0, socket);
        self.sockets(sockets)
    }

    fn sockets(self, sockets: Vec<UdpSocket>) -> Result<Http3, Error> {
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
        let routing = self.fleet.routing()?;
        let local_addr = sockets[0].local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        for socket in &sockets {
            socket.set_nonblocking(true).map_err(|source| Error::Bind {
                addr: local_addr,
                source,
            })?;
        }
        let alpn = self.routes.iter().map(|(a, _)| a.clone()).collect();
        let tls = self.tls.quic_config_with_alpn(alpn)?;
        let crypto = crate::tls::ServerCrypto::new(tls)?;
        let mut server_config = self.quic.server(crypto)?;
        if let Some(key) = &self.fleet.key {
            server_config.token_key(super::keys::token_key(key));
        }
        Ok(Http3 {
            stats: super::WorkerStats::new(sockets.len()),
            sockets,
            local_addr,
            server_config,
            routing,
            fleet_key: self.fleet.key,
            routes: self.routes,
            quic: self.quic,
            http3: Arc::new(self.http3),
            webtransport: Arc::new(self.webtransport),
            early_data: self.tls.early_data_enabled(),
            client_auth: !matches!(self.tls.client_auth_mode(), twinport::ClientAuth::None),
        })
    }
}
