//! [`Builder`]: which protocols an [`Http3`] endpoint speaks, in ALPN preference order, and
//! its settings.

use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use twinport::ServerTls;

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
        let crypto = crate::tls::ServerCrypto::new(tls)?;
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
