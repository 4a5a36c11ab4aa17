//! [`Server`]: one service on several transports, with one graceful shutdown.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::HeaderValue;

use crate::alt_svc::{AltSvc, AltSvcLayer};
use crate::error_chain::ErrorChain;
use crate::transport::{
    BoxFuture, ConnectionGauge, Shutdown, ShutdownTrigger, Transport, TransportContext,
};
use crate::{BoxError, DrainReport};

/// How long requests in flight may take to finish after the shutdown signal, unless
/// [`grace_period`](Server::grace_period) says otherwise: 10 seconds.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Why a [`Server`] stopped with an error.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A transport serves plaintext HTTP (no TLS) beside HTTP/3 while the server advertises
    /// HTTP/3 automatically: HTTP/3 needs an `https://` origin, so that is a forgotten
    /// `.tls(..)`. Behind a proxy that terminates TLS in front of the plaintext transport,
    /// say so with [`Server::alt_svc_port`] (or turn Alt-Svc off with [`Server::alt_svc`]).
    #[error(
        "the {name} transport serves plaintext HTTP beside HTTP/3, but HTTP/3 needs an https \
         origin: add TLS to it (twinport-hyper: Http::tls), or, if a proxy in front of it \
         terminates TLS, name the UDP port to advertise with Server::alt_svc_port (or turn \
         Alt-Svc off with Server::alt_svc(false))"
    )]
    PlaintextBesideHttp3 {
        /// The plaintext transport's name.
        name: &'static str,
    },
    /// A transport failed; the others were shut down.
    #[error("the {name} transport failed")]
    Transport {
        /// The transport's name.
        name: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

crate::error_chain::debug_as_chain!(TransportError);

/// How the server fills in `Alt-Svc` on TCP responses.
#[derive(Clone, Debug)]
enum AltSvcMode {
    Auto,
    Off,
    Port(u16),
}

type ServeFn<S> =
    Box<dyn FnOnce(AltSvc<S>, TransportContext) -> BoxFuture<Result<DrainReport, BoxError>> + Send>;

struct Registered<S> {
    name: &'static str,
    local_addr: Option<SocketAddr>,
    http3_port: Option<u16>,
    uses_tls: Option<bool>,
    gauge: ConnectionGauge,
    serve: ServeFn<S>,
}

/// One service on several transports, with one graceful shutdown: what [`serve`] builds,
/// for when you choose the transports yourself.
///
/// A transport (`twinport::tcp::Http`, `twinport::quic::Http3`, or your own: see
/// [`Transport`]) is handed the same service, wrapped in [`AltSvc`] so that, when an HTTP/3
/// transport runs beside a TCP one, HTTP/1.1 and HTTP/2 responses advertise the real UDP port.
/// Shutdown is shared: one signal drains every transport within one grace period. Await the
/// server to serve.
///
/// ```no_run
/// # async fn run(app: axum::Router, http: twinport_hyper::Http, h3: twinport_quinn::Http3) -> Result<(), twinport::TransportError> {
/// use std::time::Duration;
///
/// let report = twinport::Server::new(app)
///     .transport(http)
///     .transport(h3)
///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
///     .grace_period(Duration::from_secs(5))
///     .await?;
/// println!("{} connections cut at the deadline", report.cut);
/// # Ok(())
/// # }
/// ```
///
/// `T` says whether a transport was added yet ([`NoTransport`], [`WithTransports`]): only a
/// server with one can be awaited, so this does not compile:
///
/// ```compile_fail
/// # async fn run(app: axum::Router) {
/// let _ = twinport::Server::new(app).await; // no transport
/// # }
/// ```
///
/// [`serve`]: https://docs.rs/twinport/latest/twinport/fn.serve.html
#[must_use = "a builder does nothing until it is used"]
pub struct Server<S, T = WithTransports> {
    service: S,
    transports: Vec<Registered<S>>,
    alt_svc: AltSvcMode,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    signal: Option<BoxFuture<()>>,
    grace: Duration,
    state: PhantomData<T>,
}

/// The state of a [`Server`] that has no transport yet: add one with
/// [`Server::transport`].
#[derive(Debug)]
pub enum NoTransport {}

/// The state of a [`Server`] with at least one transport: it can be served.
#[derive(Debug)]
pub enum WithTransports {}

impl<S, T> fmt::Debug for Server<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field(
                "transports",
                &self.transports.iter().map(|t| t.name).collect::<Vec<_>>(),
            )
            .field("alt_svc", &self.alt_svc)
            .finish_non_exhaustive()
    }
}

/// Controls a running [`Server`] from elsewhere: its addresses, live connections, shutdown.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    trigger: ShutdownTrigger,
    transports: Vec<(&'static str, Option<SocketAddr>, ConnectionGauge)>,
}

impl ServerHandle {
    /// Starts a graceful shutdown of every transport with one grace period.
    pub fn shutdown(&self, grace: Duration) {
        self.trigger.shutdown(grace);
    }

    /// The address of the first transport that has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transports.iter().find_map(|t| t.1)
    }

    /// Each transport's name and address.
    pub fn local_addrs(&self) -> Vec<(&'static str, Option<SocketAddr>)> {
        self.transports.iter().map(|t| (t.0, t.1)).collect()
    }

    /// Each transport's name and its number of live connections now.
    pub fn connections(&self) -> Vec<(&'static str, usize)> {
        self.transports.iter().map(|t| (t.0, t.2.live())).collect()
    }
}

impl<S: Clone + Send + 'static> Server<S, NoTransport> {
    /// A server for `service`; add transports with [`transport`](Self::transport).
    pub fn new(service: S) -> Self {
        let (trigger, shutdown) = Shutdown::pair();
        Self {
            service,
            transports: Vec::new(),
            alt_svc: AltSvcMode::Auto,
            trigger,
            shutdown,
            signal: None,
            grace: DEFAULT_GRACE,
            state: PhantomData,
        }
    }
}

impl<S: Clone + Send + 'static, T> Server<S, T> {
    /// Serves on `transport` too.
    pub fn transport<X: Transport<AltSvc<S>>>(self, transport: X) -> Server<S, WithTransports> {
        let mut transports = self.transports;
        transports.push(Registered {
            name: transport.name(),
            local_addr: transport.local_addr(),
            http3_port: transport.http3_port(),
            uses_tls: transport.uses_tls(),
            gauge: ConnectionGauge::new(),
            serve: Box::new(move |svc, ctx| transport.serve(svc, ctx)),
        });
        Server {
            service: self.service,
            transports,
            alt_svc: self.alt_svc,
            trigger: self.trigger,
            shutdown: self.shutdown,
            signal: self.signal,
            grace: self.grace,
            state: PhantomData,
        }
    }

    /// Shuts down gracefully when `signal` completes: every transport stops accepting and
    /// drains within the [`grace_period`](Self::grace_period). Without one, the server runs
    /// until [`ServerHandle::shutdown`] or a transport fails.
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long requests in flight may take to finish once the shutdown signal came, after
    /// which the connections still open are closed. Default: [`DEFAULT_GRACE`].
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Switches automatic `Alt-Svc` on (the default) or off.
    pub fn alt_svc(mut self, enabled: bool) -> Self {
        self.alt_svc = if enabled {
            AltSvcMode::Auto
        } else {
            AltSvcMode::Off
        };
        self
    }

    /// Advertises HTTP/3 on this UDP port instead of the one the HTTP/3 transport is bound
    /// to: for deployments behind NAT or an L4 balancer.
    pub fn alt_svc_port(mut self, port: u16) -> Self {
        self.alt_svc = AltSvcMode::Port(port);
        self
    }

    fn alt_svc_value(&self) -> Option<HeaderValue> {
        let port = match self.alt_svc {
            AltSvcMode::Off => return None,
            AltSvcMode::Port(p) => p,
            AltSvcMode::Auto => {
                let h3 = self.transports.iter().find_map(|t| t.http3_port)?;
                // Only worth sending when something other than HTTP/3 is served.
                if self.transports.iter().all(|t| t.http3_port.is_some()) {
                    return None;
                }
                h3
            }
        };
        Some(AltSvcLayer::new(port).value().clone())
    }

    /// The mistakes a server refuses to start with.
    fn check(&self) -> Result<(), TransportError> {
        let http3 = self.transports.iter().any(|t| t.http3_port.is_some());
        if http3 && matches!(self.alt_svc, AltSvcMode::Auto) {
            if let Some(t) = self.transports.iter().find(|t| t.uses_tls == Some(false)) {
                return Err(TransportError::PlaintextBesideHttp3 { name: t.name });
            }
        }
        Ok(())
    }
}

impl<S: Clone + Send + 'static> Server<S, WithTransports> {
    /// A handle to shut the server down and read its addresses and connection counts.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            trigger: self.trigger.clone(),
            transports: self
                .transports
                .iter()
                .map(|t| (t.name, t.local_addr, t.gauge.clone()))
                .collect(),
        }
    }

    async fn run(mut self) -> Result<DrainReport, TransportError> {
        self.check()?;
        let _watching = self
            .signal
            .take()
            .map(|signal| self.trigger.fire_on(signal, self.grace));
        let alt = self.alt_svc_value();
        let mut running: FuturesUnordered<_> = self
            .transports
            .into_iter()
            .map(|t| {
                let ctx = TransportContext {
                    shutdown: self.shutdown.clone(),
                    connections: t.gauge,
                };
                let fut = (t.serve)(AltSvc::new(self.service.clone(), alt.clone()), ctx);
                let name = t.name;
                async move { (name, fut.await) }
            })
            .collect();
        let mut report = DrainReport::default();
        let mut first_error = None;
        while let Some((name, result)) = running.next().await {
            match result {
                Ok(r) => {
                    report.cut += r.cut;
                    report.lingering += r.lingering;
                    if !self.shutdown.is_draining() {
                        tracing::warn!(transport = name, "transport stopped before shutdown");
                    }
                }
                Err(source) => {
                    tracing::error!(transport = name, error = %ErrorChain::new(&*source), "transport failed");
                    // Take the others down too, promptly.
                    self.trigger.shutdown(Duration::from_secs(1));
                    first_error.get_or_insert(TransportError::Transport { name, source });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

/// Serving: until the [graceful-shutdown signal](Server::with_graceful_shutdown), a
/// [`ServerHandle::shutdown`] or a transport's failure, then every transport drains. Refuses to
/// start ([`TransportError::PlaintextBesideHttp3`]) when a transport serves plaintext beside
/// HTTP/3 while Alt-Svc is automatic.
impl<S: Clone + Send + 'static> IntoFuture for Server<S, WithTransports> {
    type Output = Result<DrainReport, TransportError>;
    type IntoFuture = BoxFuture<Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

#[cfg(test)]
mod tests;
