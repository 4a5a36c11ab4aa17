//! [`Http`]: the transport itself — a [`Listener`], an [`Acceptor`] chain and hyper.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use twinport::{
    transport::BoxFuture, transport::HttpService, transport::Shutdown, transport::Transport,
    transport::TransportContext, BoxError, DrainReport, ServerTls, TlsError,
};

use crate::accept::{Acceptor, BeforeTls, DefaultAcceptor};
use crate::accepting::Accepting;
use crate::body::RequestBody;
use crate::config::HttpConfig;
use crate::listener::Listener;
use crate::proxy::{ProxyMode, ProxyProtocolAcceptor};
use crate::tls::TlsAcceptor;

/// Serves a tower service over HTTP/1.1 and HTTP/2 on connections from a [`Listener`],
/// readied by an [`Acceptor`] chain `A`; see the [crate docs](crate).
///
/// Use it on its own with [`serve`](Self::serve), or hand it to a [`twinport::Server`] as a
/// [`Transport`] (graceful shutdown, more transports).
#[must_use = "a builder does nothing until it is used"]
pub struct Http<A = DefaultAcceptor, L = tokio::net::TcpListener> {
    listener: L,
    acceptor: A,
    config: HttpConfig,
}

impl<A: fmt::Debug, L: Listener> fmt::Debug for Http<A, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("listener", &self.listener.name())
            .field("local_addr", &self.listener.local_addr())
            .field("acceptor", &self.acceptor)
            .field("config", &self.config)
            .finish()
    }
}

impl<L: Listener> Http<DefaultAcceptor, L> {
    /// Serves connections from `listener`: a tokio `TcpListener`, a `UnixListener`, or your
    /// own [`Listener`]. Plaintext until you add an acceptor.
    pub fn new(listener: L) -> Self {
        Self {
            listener,
            acceptor: DefaultAcceptor,
            config: HttpConfig::default(),
        }
    }
}

impl Http<DefaultAcceptor, tokio::net::TcpListener> {
    /// Binds a TCP listener on `addr`.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| twinport::transport::bind_error("TCP", addr, e))?;
        Ok(Self::new(listener))
    }

    /// Serves connections from a std listener, such as the TCP half of
    /// [`twinport::bind_same_port`]. Must be called within a tokio runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        twinport::transport::ensure_runtime().map_err(io::Error::other)?;
        listener.set_nonblocking(true)?;
        Ok(Self::new(tokio::net::TcpListener::from_std(listener)?))
    }
}

impl<A: BeforeTls, L: Listener> Http<A, L> {
    /// Adds PROXY protocol header reading around the current acceptor chain. Only before
    /// [`tls`](Self::tls), as the header comes before the TLS bytes: after it, this does not
    /// compile.
    ///
    /// ```compile_fail
    /// # async fn run(tls: twinport::ServerTls) -> Result<(), Box<dyn std::error::Error>> {
    /// use twinport_hyper::{Http, ProxyMode};
    ///
    /// // The PROXY header would be looked for inside TLS.
    /// let http = Http::bind("127.0.0.1:0".parse()?).await?.tls(&tls)?.proxy_protocol(ProxyMode::Required);
    /// # Ok(())
    /// # }
    /// ```
    pub fn proxy_protocol(self, mode: ProxyMode) -> Http<ProxyProtocolAcceptor<A>, L> {
        self.map_acceptor(|a| ProxyProtocolAcceptor::new(mode).acceptor(a))
    }
}

impl<A, L: Listener> Http<A, L> {
    /// Replaces the acceptor chain.
    pub fn acceptor<B>(self, acceptor: B) -> Http<B, L> {
        Http {
            listener: self.listener,
            acceptor,
            config: self.config,
        }
    }

    /// Adds TLS, as `tls` describes it, around the current acceptor chain.
    pub fn tls(self, tls: &ServerTls) -> Result<Http<TlsAcceptor<A>, L>, TlsError> {
        let tls = TlsAcceptor::from_server_tls(tls)?;
        Ok(self.map_acceptor(|a| tls.acceptor(a)))
    }

    /// Wraps the current acceptor chain in another.
    pub fn map_acceptor<B>(self, f: impl FnOnce(A) -> B) -> Http<B, L> {
        Http {
            listener: self.listener,
            acceptor: f(self.acceptor),
            config: self.config,
        }
    }

    /// Uses these timeouts and limits instead of the [defaults](HttpConfig::default).
    pub fn config(mut self, config: HttpConfig) -> Self {
        self.config = config;
        self
    }

    /// The address it listens on, when the listener has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr()
    }

    /// The listener.
    pub fn listener(&self) -> &L {
        &self.listener
    }

    /// The acceptor chain.
    pub fn get_acceptor(&self) -> &A {
        &self.acceptor
    }
}

impl<A, L> Http<A, L>
where
    L: Listener,
    A: Acceptor<L::Io>,
{
    /// Serves `service` until the process ends. Failures of single connections, and of
    /// `accept` itself, are logged and never end it: the only error is being run outside a
    /// tokio runtime. Returns what twinport-quinn's `Http3::serve` returns.
    pub async fn serve<S>(self, service: S) -> io::Result<DrainReport>
    where
        S: HttpService<RequestBody>,
    {
        self.run(service, TransportContext::new(Shutdown::never()))
            .await
    }

    async fn run<S>(self, service: S, ctx: TransportContext) -> io::Result<DrainReport>
    where
        S: HttpService<RequestBody>,
    {
        twinport::transport::ensure_runtime().map_err(io::Error::other)?;
        let name = self.listener.name();
        let addr = self.listener.local_addr();
        tracing::info!(transport = name, addr = ?addr, "serving HTTP/1.1 and HTTP/2");
        let accepting = Accepting::new(
            self.listener,
            self.acceptor,
            service,
            &self.config,
            ctx.shutdown.clone(),
        );
        let (_, report) = twinport::transport::serve_connections(name, accepting, &ctx).await;
        Ok(report)
    }
}

impl<A, L, S> Transport<S> for Http<A, L>
where
    L: Listener,
    A: Acceptor<L::Io>,
    S: HttpService<RequestBody>,
{
    fn name(&self) -> &'static str {
        self.listener.name()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr()
    }

    fn uses_tls(&self) -> Option<bool> {
        self.acceptor.uses_tls()
    }

    fn serve(self, service: S, ctx: TransportContext) -> BoxFuture<Result<DrainReport, BoxError>> {
        Box::pin(async move { Ok(self.run(service, ctx).await?) })
    }
}
