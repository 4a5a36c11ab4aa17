//! [`Http`]: the transport itself — a [`Listener`], an [`Acceptor`] chain and hyper.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;
use twinport::request::connection_span;
use twinport::{
    server::BoxFuture, BoxError, DrainReport, HttpService, ServeContext, ServerTls, Shutdown,
    TlsError, Transport,
};

use crate::accept::{Acceptor, DefaultAcceptor};
use crate::body::RequestBody;
use crate::config::HttpConfig;
use crate::conn::{serve_connection, Builders};
use crate::listener::Listener;
use crate::proxy::{ProxyMode, ProxyProtocolAcceptor};
use crate::tls::TlsAcceptor;

/// Serves a tower service over HTTP/1.1 and HTTP/2 on connections from a [`Listener`],
/// readied by an [`Acceptor`] chain `A`; see the [crate docs](crate).
///
/// Use it on its own with [`serve`](Self::serve) or
/// [`serve_with_shutdown`](Self::serve_with_shutdown), or hand it to a [`twinport::Server`]
/// as a [`Transport`].
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
            .map_err(|e| twinport::server::bind_error("TCP", addr, e))?;
        Ok(Self::new(listener))
    }

    /// Serves connections from a std listener, such as the TCP half of
    /// [`twinport::bind_same_port`]. Must be called within a tokio runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "Http::from_std must be called within a tokio runtime",
            ));
        }
        listener.set_nonblocking(true)?;
        Ok(Self::new(tokio::net::TcpListener::from_std(listener)?))
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

    /// Adds PROXY protocol header reading around the current acceptor chain. Call it before
    /// [`tls`](Self::tls): the header comes before the TLS bytes.
    pub fn proxy_protocol(self, mode: ProxyMode) -> Http<ProxyProtocolAcceptor<A>, L> {
        self.map_acceptor(|a| ProxyProtocolAcceptor::new(mode).acceptor(a))
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
        self.run(service, ServeContext::new(Shutdown::never()))
            .await
    }

    /// Serves `service` until `signal` completes, then shuts down gracefully: stops
    /// accepting, asks every connection to finish (HTTP/2 `GOAWAY`, HTTP/1.1
    /// `Connection: close`), waits up to `grace` for requests in flight, then closes the
    /// rest. The report says how many were closed that way.
    pub async fn serve_with_shutdown<S, F>(
        self,
        service: S,
        signal: F,
        grace: Duration,
    ) -> io::Result<DrainReport>
    where
        S: HttpService<RequestBody>,
        F: Future<Output = ()> + Send + 'static,
    {
        let (shutdown, _watching) = Shutdown::on_signal(signal, grace);
        self.run(service, ServeContext::new(shutdown)).await
    }

    async fn run<S>(self, service: S, ctx: ServeContext) -> io::Result<DrainReport>
    where
        S: HttpService<RequestBody>,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "Http::serve must run within a tokio runtime",
            ));
        }
        let Http {
            mut listener,
            acceptor,
            config,
        } = self;
        let name = listener.name();
        let local = listener.local_addr();
        let builders = Arc::new(Builders::new(&config));
        let limit = config.max_connections.map(|n| Arc::new(Semaphore::new(n)));
        let mut tasks = JoinSet::new();
        let mut slot: Option<Slot> = None;
        let mut backoff = Backoff::default();
        let draining = ctx.shutdown.draining();
        let mut draining = std::pin::pin!(draining);
        tracing::info!(transport = name, addr = ?local, "serving HTTP/1.1 and HTTP/2");

        let deadline = loop {
            tokio::select! {
                biased;
                deadline = &mut draining => break deadline,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = joined {
                        if e.is_panic() {
                            tracing::error!(transport = name, "a connection task panicked");
                        }
                    }
                }
                s = acquire(limit.as_ref()), if slot.is_none() => slot = Some(s),
                accepted = poll_fn(|cx| listener.poll_accept(cx)), if slot.is_some() => {
                    match accepted {
                        Ok((io, info)) => {
                            backoff.reset();
                            let span = connection_span(name, info.remote_addr_ref());
                            let conn = serve_connection(
                                io,
                                info,
                                acceptor.clone(),
                                service.clone(),
                                builders.clone(),
                                ctx.shutdown.clone(),
                            );
                            let guard = ctx.connections.guard();
                            let permit = slot.take();
                            tasks.spawn(
                                async move {
                                    conn.await;
                                    drop((guard, permit));
                                }
                                .instrument(span),
                            );
                        }
                        Err(error) if is_connection_error(&error) => {
                            tracing::debug!(transport = name, %error, "accept: peer gone");
                        }
                        Err(error) => {
                            let pause = backoff.next();
                            tracing::error!(
                                transport = name,
                                %error,
                                retry_in = ?pause,
                                "accept failed; retrying",
                            );
                            tokio::select! {
                                deadline = &mut draining => break deadline,
                                _ = tokio::time::sleep(pause) => {}
                            }
                        }
                    }
                }
            }
        };

        // Stop accepting: closing the listener makes new connections fail at once.
        drop(listener);
        let live = tasks.len();
        tracing::info!(transport = name, live, "draining connections");
        let finished = tokio::time::timeout_at(deadline, async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        let open = if finished { 0 } else { tasks.len() };
        // Read before the abort: a lingering connection has sent all its responses.
        let lingering = builders.lingering.count().min(open);
        let cut = open - lingering;
        if open > 0 {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            tracing::info!(
                transport = name,
                cut,
                lingering,
                "grace period over; closed the connections still open"
            );
        } else {
            tracing::info!(transport = name, "drained");
        }
        Ok(DrainReport::new(cut).with_lingering(lingering))
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

    fn serve(self, service: S, ctx: ServeContext) -> BoxFuture<Result<DrainReport, BoxError>> {
        Box::pin(async move { Ok(self.run(service, ctx).await?) })
    }
}

/// A free connection slot: a semaphore permit, or nothing when there is no limit.
type Slot = Option<OwnedSemaphorePermit>;

async fn acquire(limit: Option<&Arc<Semaphore>>) -> Slot {
    match limit {
        // The semaphore is never closed.
        Some(sem) => sem.clone().acquire_owned().await.ok(),
        None => None,
    }
}

/// Errors that concern one connection that died before it was accepted, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Exponential back-off for accept errors such as `EMFILE`: 10 ms doubling up to 1 s.
#[derive(Default)]
struct Backoff {
    current: Option<Duration>,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let next = match self.current {
            None => Duration::from_millis(10),
            Some(d) => (d * 2).min(Duration::from_secs(1)),
        };
        self.current = Some(next);
        next
    }

    fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut b = Backoff::default();
        assert_eq!(b.next(), Duration::from_millis(10));
        assert_eq!(b.next(), Duration::from_millis(20));
        for _ in 0..20 {
            b.next();
        }
        assert_eq!(b.next(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(10));
    }
}
