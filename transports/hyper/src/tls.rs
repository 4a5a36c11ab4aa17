//! [`TlsAcceptor`]: TLS with rustls over any inner [`Acceptor`].
//!
//! The handshake runs in the connection's own task with a timeout (10 seconds by default).
//! Afterwards the [`ConnectionInfo`](twinport::ConnectionInfo) carries the ALPN protocol and a
//! [`TlsInfo`]: SNI, TLS version, cipher suite and the client's verified certificate chain,
//! parsed once. [`Http`](crate::Http) then serves HTTP/2 only when ALPN chose `h2`, and
//! HTTP/1.1 only otherwise.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use twinport::{CaRoots, ClientAuth, ServerTls};
//! use twinport_hyper::{Http, TlsAcceptor};
//!
//! let tls = ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?
//!     .client_auth(ClientAuth::Optional(CaRoots::from_pem_file("certs/ca.pem")?));
//! let acceptor = TlsAcceptor::from_server_tls(&tls)?.handshake_timeout(Duration::from_secs(5));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! Http::new(listener)
//!     .acceptor(acceptor)
//!     .serve(axum::Router::new())
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use twinport::{
    connection_info::ConnectionInfoBuilder, connection_info::TlsInfo, ServerTls, TlsError,
};

use crate::accept::{AcceptError, AcceptFuture, Acceptor, DefaultAcceptor};
use crate::linger::Linger;

/// How long a refused handshake's connection reads what the client still sends (its request,
/// written right after its Finished) before it is closed, and how much of it.
const ALERT_LINGER: Duration = Duration::from_secs(1);
const ALERT_LINGER_BYTES: u64 = 64 * 1024;

/// The default TLS handshake timeout: 10 seconds.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Does a TLS handshake after the inner acceptor `A`; see the [module docs](self).
#[derive(Clone)]
#[must_use = "a builder does nothing until it is used"]
pub struct TlsAcceptor<A = DefaultAcceptor> {
    inner: A,
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl<A: fmt::Debug> fmt::Debug for TlsAcceptor<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("inner", &self.inner)
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// TLS with this rustls configuration. Its ALPN list decides which HTTP versions are
    /// offered; [`ServerTls::tcp_config`] offers `h2` then `http/1.1`.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            inner: DefaultAcceptor,
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// TLS as `tls` describes it (certificate, client authentication, crypto provider), with
    /// ALPN `h2` and `http/1.1`.
    ///
    /// TLS 1.3 early data (0-RTT) is not accepted over TCP, even when
    /// [`ServerTls::early_data`] is on ([`ServerTls::tcp_config`] never enables it).
    pub fn from_server_tls(tls: &ServerTls) -> Result<Self, TlsError> {
        Ok(Self::new(Arc::new(tls.tcp_config()?)))
    }
}

impl<A> TlsAcceptor<A> {
    /// Runs `inner` before the handshake (for example a
    /// [`ProxyProtocolAcceptor`](crate::ProxyProtocolAcceptor), since the PROXY header comes
    /// before the TLS bytes).
    pub fn acceptor<B>(self, inner: B) -> TlsAcceptor<B> {
        TlsAcceptor {
            inner,
            config: self.config,
            handshake_timeout: self.handshake_timeout,
        }
    }

    /// How long a client has to finish the handshake (10 seconds by default).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The inner acceptor.
    pub fn get_ref(&self) -> &A {
        &self.inner
    }
}

impl<A, I> Acceptor<I> for TlsAcceptor<A>
where
    A: Acceptor<I>,
    I: Send + 'static,
{
    type Io = TlsStream<A::Io>;
    type Future = AcceptFuture<Self::Io>;

    fn uses_tls(&self) -> Option<bool> {
        Some(true)
    }

    fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future {
        let inner = self.inner.accept(io, info);
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        let timeout = self.handshake_timeout;
        Box::pin(async move {
            let (io, info) = inner.await?;
            let stream = handshake(acceptor, io, timeout).await?;
            let conn = stream.get_ref().1;
            // An ACME TLS-ALPN-01 validation only needed the handshake (RFC 8737 §3).
            if conn.alpn_protocol() == Some(twinport::tls::ACME_TLS_ALPN) {
                return Err(AcceptError::refused("ACME TLS-ALPN-01 validation answered"));
            }
            let mut info = info.tls(TlsInfo::from_connection(conn)?);
            if let Some(alpn) = conn.alpn_protocol() {
                info = info.alpn(alpn.to_vec());
            }
            Ok((stream, info))
        })
    }
}

async fn handshake<IO>(
    acceptor: tokio_rustls::TlsAcceptor,
    io: IO,
    timeout: Duration,
) -> Result<TlsStream<IO>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(timeout, acceptor.accept(io).into_fallible()).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err((e, io))) => {
            close_after_alert(io).await;
            Err(AcceptError::Tls(e))
        }
        Err(_) => Err(AcceptError::Timeout {
            stage: "TLS handshake",
            after: timeout,
        }),
    }
}

/// After a refused handshake (its alert, a revoked certificate say, already written): a
/// short lingering close, so the kernel does not answer the client's unread request with a
/// reset that would discard the alert before it is read.
async fn close_after_alert<IO>(io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let linger = Linger {
        time: ALERT_LINGER,
        timeout: ALERT_LINGER,
        max_bytes: ALERT_LINGER_BYTES,
    };
    linger.close(io).await;
}
