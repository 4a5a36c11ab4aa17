//! [`Server`]: one service on several [`Transport`]s, with one graceful shutdown.
//!
//! A transport (twinport-hyper's `Http`, twinport-quinn's `Http3`, or your own) implements
//! [`Transport`]. The server hands each the same service, wrapped in [`AltSvc`] so that, when
//! an HTTP/3 transport runs beside a TCP one, HTTP/1.1 and HTTP/2 responses advertise the real
//! UDP port. Shutdown is shared: one signal drains every transport within one grace period.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
//! assert_eq!(tcp.local_addr()?.port(), udp.local_addr()?.port());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::HeaderValue;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::alt_svc::{AltSvc, AltSvcLayer};

/// A boxed error from a transport.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// `now + after`, or about thirty years from now when that would overflow the clock (a
/// `Duration::MAX` grace period means "wait for everything", not a panic).
pub fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The receiving side of a graceful shutdown, cloned into every transport and connection.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<Option<Instant>>,
}

/// The sending side of a graceful shutdown.
#[derive(Clone, Debug)]
pub struct ShutdownTrigger {
    tx: Arc<watch::Sender<Option<Instant>>>,
}

impl Shutdown {
    /// A linked trigger and signal.
    pub fn pair() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(None);
        (ShutdownTrigger { tx: Arc::new(tx) }, Shutdown { rx })
    }

    /// A signal that never fires.
    pub fn never() -> Self {
        Self::pair().1
    }

    /// Waits until shutdown starts and returns the deadline by which in-flight work must end.
    /// If the trigger is dropped without firing, this waits forever.
    pub async fn draining(&self) -> Instant {
        let mut rx = self.rx.clone();
        loop {
            if let Some(deadline) = *rx.borrow_and_update() {
                return deadline;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// A signal that fires with a `grace` period once `signal` completes: what standalone
    /// `serve_with_shutdown` methods are built on. Keep the returned guard for as long as
    /// the signal is watched; dropping it stops watching.
    pub fn on_signal<F>(signal: F, grace: Duration) -> (Shutdown, SignalGuard)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (trigger, shutdown) = Self::pair();
        let task = tokio::spawn(async move {
            signal.await;
            tracing::info!(?grace, "graceful shutdown started");
            trigger.shutdown(grace);
            // The trigger stays alive with this task, so the deadline stays readable.
            std::future::pending::<()>().await;
        });
        (shutdown, SignalGuard { task })
    }

    /// Whether shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// The drain deadline, once shutdown has started.
    pub fn deadline(&self) -> Option<Instant> {
        *self.rx.borrow()
    }
}

/// Watches a shutdown signal for [`Shutdown::on_signal`]; stops watching when dropped.
#[derive(Debug)]
pub struct SignalGuard {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ShutdownTrigger {
    /// Starts a graceful shutdown: stop accepting, let in-flight requests finish for up to
    /// `grace`, then close what is left. A second call does not move the deadline.
    pub fn shutdown(&self, grace: Duration) {
        let deadline = deadline_after(grace);
        self.tx.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
    }

    /// The signal side.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

/// Counts a transport's live connections. Cheap to clone; each connection holds a
/// [`ConnectionGuard`] for its lifetime.
#[derive(Clone, Debug, Default)]
pub struct ConnectionGauge {
    live: Arc<AtomicUsize>,
}

impl ConnectionGauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more live connection until the guard drops.
    pub fn guard(&self) -> ConnectionGuard {
        self.live.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            live: self.live.clone(),
        }
    }

    /// How many connections are live now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

/// Keeps one connection counted in its [`ConnectionGauge`].
#[derive(Debug)]
pub struct ConnectionGuard {
    live: Arc<AtomicUsize>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a transport gets from the [`Server`] when it starts serving.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeContext {
    /// The shared shutdown signal.
    pub shutdown: Shutdown,
    /// Where the transport counts its live connections.
    pub connections: ConnectionGauge,
}

impl ServeContext {
    /// A context with this shutdown signal and a fresh gauge.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            shutdown,
            connections: ConnectionGauge::new(),
        }
    }
}

/// How a transport's serving ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Connections still open when the grace period ran out, closed without waiting.
    pub cut: usize,
}

impl DrainReport {
    /// A report of `cut` connections closed at the deadline.
    pub fn new(cut: usize) -> Self {
        Self { cut }
    }
}

/// A way of carrying requests to a service: implemented by twinport-hyper's `Http`,
/// twinport-quinn's `Http3`, or your own.
pub trait Transport<S>: Send + 'static {
    /// A short name for logs and errors, such as `tcp` or `quic`.
    fn name(&self) -> &'static str;

    /// The address it listens on, if it has one.
    fn local_addr(&self) -> Option<SocketAddr>;

    /// The UDP port on which this transport serves HTTP/3, so that the server can advertise
    /// it to the others with Alt-Svc. `None` for transports that do not serve HTTP/3.
    fn http3_port(&self) -> Option<u16> {
        None
    }

    /// Serves `service` until `ctx.shutdown` fires and in-flight work has drained (or the
    /// deadline passed), or a fatal error occurs.
    fn serve(self, service: S, ctx: ServeContext) -> BoxFuture<Result<DrainReport, BoxError>>;
}

/// Why a [`Server`] stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// [`Server::transport`] was never called.
    #[error("no transport to serve on: add one with Server::transport")]
    NoTransports,
    /// A transport failed; the others were shut down.
    #[error("the {name} transport failed: {source}")]
    Transport {
        /// The transport's name.
        name: &'static str,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
}

/// How the server fills in `Alt-Svc` on TCP responses.
#[derive(Clone, Debug)]
enum AltSvcMode {
    Auto,
    Off,
    Port(u16),
}

type ServeFn<S> =
    Box<dyn FnOnce(AltSvc<S>, ServeContext) -> BoxFuture<Result<DrainReport, BoxError>> + Send>;

struct Registered<S> {
    name: &'static str,
    local_addr: Option<SocketAddr>,
    http3_port: Option<u16>,
    gauge: ConnectionGauge,
    serve: ServeFn<S>,
}

/// One service on several transports; see the [module docs](self).
pub struct Server<S> {
    service: S,
    transports: Vec<Registered<S>>,
    alt_svc: AltSvcMode,
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
}

impl<S> fmt::Debug for Server<S> {
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

impl<S: Clone + Send + 'static> Server<S> {
    /// A server for `service`; add transports with [`transport`](Self::transport).
    pub fn new(service: S) -> Self {
        let (trigger, shutdown) = Shutdown::pair();
        Self {
            service,
            transports: Vec::new(),
            alt_svc: AltSvcMode::Auto,
            trigger,
            shutdown,
        }
    }

    /// Serves on `transport` too.
    pub fn transport<T: Transport<AltSvc<S>>>(mut self, transport: T) -> Self {
        let gauge = ConnectionGauge::new();
        self.transports.push(Registered {
            name: transport.name(),
            local_addr: transport.local_addr(),
            http3_port: transport.http3_port(),
            gauge,
            serve: Box::new(move |svc, ctx| transport.serve(svc, ctx)),
        });
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

    /// Serves until a transport fails or [`ServerHandle::shutdown`] is called.
    pub async fn serve(self) -> Result<DrainReport, ServerError> {
        let alt = self.alt_svc_value();
        if self.transports.is_empty() {
            return Err(ServerError::NoTransports);
        }
        let mut running: FuturesUnordered<_> = self
            .transports
            .into_iter()
            .map(|t| {
                let ctx = ServeContext {
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
                    if !self.shutdown.is_draining() {
                        tracing::warn!(transport = name, "transport stopped before shutdown");
                    }
                }
                Err(source) => {
                    tracing::error!(transport = name, error = %source, "transport failed");
                    // Take the others down too, promptly.
                    self.trigger.shutdown(Duration::from_secs(1));
                    first_error.get_or_insert(ServerError::Transport { name, source });
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Serves until `signal` completes, then drains every transport within `grace`.
    pub async fn with_graceful_shutdown<F>(
        self,
        signal: F,
        grace: Duration,
    ) -> Result<DrainReport, ServerError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let trigger = self.trigger.clone();
        let watcher = tokio::spawn(async move {
            signal.await;
            tracing::info!(?grace, "graceful shutdown started");
            trigger.shutdown(grace);
        });
        let result = self.serve().await;
        watcher.abort();
        result
    }
}

/// Binds a TCP listener and a UDP socket on the same address and port, for serving HTTP/1.1
/// and HTTP/2 beside HTTP/3. With port 0, retries until a port is free on both. Binding
/// `[::]` accepts IPv4 too (dual-stack). Both are returned non-blocking, ready for tokio and
/// quinn.
pub fn bind_same_port(
    addr: SocketAddr,
) -> io::Result<(std::net::TcpListener, std::net::UdpSocket)> {
    const ATTEMPTS: usize = 64;
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let tcp = bind_tcp(addr)?;
        let port = tcp.local_addr()?.port();
        match bind_udp(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_err = Some(e)
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("bound TCP {addr} but not UDP port {port}: {e}"),
                ))
            }
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AddrInUse, "no port free on both TCP and UDP")
    }))
}

fn socket_for(
    addr: SocketAddr,
    ty: socket2::Type,
    proto: socket2::Protocol,
) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM, socket2::Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind TCP {addr}: {e}")))?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_port_on_port_zero_and_dual_stack() {
        let (tcp, udp) = bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port()
        );
        if let Ok((tcp6, udp6)) = bind_same_port("[::]:0".parse().unwrap()) {
            let port = tcp6.local_addr().unwrap().port();
            assert_eq!(port, udp6.local_addr().unwrap().port());
            // Dual-stack: an IPv4 client reaches the [::] listener.
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        }
    }

    #[test]
    fn a_taken_port_is_an_error_that_says_which() {
        let (tcp, _udp) = bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
        let err = bind_same_port(tcp.local_addr().unwrap()).unwrap_err();
        assert!(err.to_string().contains("TCP"), "{err}");
    }

    #[tokio::test]
    async fn shutdown_signal_carries_the_deadline_once() {
        let (trigger, shutdown) = Shutdown::pair();
        assert!(!shutdown.is_draining());
        trigger.shutdown(Duration::from_secs(5));
        let first = tokio::time::timeout(Duration::from_secs(1), shutdown.draining())
            .await
            .unwrap();
        trigger.shutdown(Duration::from_secs(50));
        assert_eq!(shutdown.deadline(), Some(first));
    }

    /// A transport that calls the service once with a request of `version`, records the
    /// response's alt-svc header, then waits for shutdown (or fails, if told to).
    struct Probe {
        name: &'static str,
        h3_port: Option<u16>,
        version: http::Version,
        seen: Seen,
        fail: bool,
    }

    impl<S> Transport<S> for Probe
    where
        S: tower_service::Service<http::Request<()>, Response = http::Response<()>>
            + Send
            + 'static,
        S::Future: Send,
    {
        fn name(&self) -> &'static str {
            self.name
        }
        fn local_addr(&self) -> Option<SocketAddr> {
            None
        }
        fn http3_port(&self) -> Option<u16> {
            self.h3_port
        }
        fn serve(
            self,
            mut service: S,
            ctx: ServeContext,
        ) -> BoxFuture<Result<DrainReport, BoxError>> {
            Box::pin(async move {
                let _guard = ctx.connections.guard();
                let mut req = http::Request::new(());
                *req.version_mut() = self.version;
                let res = service.call(req).await.map_err(|_| "service failed")?;
                let alt = res
                    .headers()
                    .get(http::header::ALT_SVC)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                self.seen.lock().unwrap().push((self.name, alt));
                if self.fail {
                    return Err("bind failed: port taken".into());
                }
                ctx.shutdown.draining().await;
                Ok(DrainReport::new(1))
            })
        }
    }

    fn app() -> impl tower_service::Service<
        http::Request<()>,
        Response = http::Response<()>,
        Error = std::convert::Infallible,
        Future = std::future::Ready<Result<http::Response<()>, std::convert::Infallible>>,
    > + Clone
           + Send
           + 'static {
        tower::service_fn(|_req: http::Request<()>| std::future::ready(Ok(http::Response::new(()))))
    }

    type Seen = Arc<std::sync::Mutex<Vec<(&'static str, Option<String>)>>>;

    fn probe(name: &'static str, h3: Option<u16>, seen: &Seen, fail: bool) -> Probe {
        let version = if h3.is_some() {
            http::Version::HTTP_3
        } else {
            http::Version::HTTP_2
        };
        Probe {
            name,
            h3_port: h3,
            version,
            seen: seen.clone(),
            fail,
        }
    }

    #[tokio::test]
    async fn alt_svc_advertises_the_http3_port_to_tcp_only() {
        let seen = Seen::default();
        let server = Server::new(app())
            .transport(probe("tcp", None, &seen, false))
            .transport(probe("quic", Some(7443), &seen, false));
        let handle = server.handle();
        let task = tokio::spawn(server.serve());
        while seen.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(handle.connections(), [("tcp", 1), ("quic", 1)]);
        handle.shutdown(Duration::from_secs(1));
        let report = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(report.cut, 2);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("quic", None),
                ("tcp", Some("h3=\":7443\"; ma=86400".to_string()))
            ]
        );
    }

    #[tokio::test]
    async fn alt_svc_off_and_overridden() {
        for (server_fn, want) in [
            (false, None),
            (true, Some("h3=\":443\"; ma=86400".to_string())),
        ] {
            let seen = Seen::default();
            let mut server = Server::new(app())
                .transport(probe("tcp", None, &seen, false))
                .transport(probe("quic", Some(7443), &seen, false));
            server = if server_fn {
                server.alt_svc_port(443)
            } else {
                server.alt_svc(false)
            };
            let handle = server.handle();
            let task = tokio::spawn(server.serve());
            while seen.lock().unwrap().len() < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            handle.shutdown(Duration::ZERO);
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let tcp = seen.lock().unwrap().iter().find(|s| s.0 == "tcp").cloned();
            assert_eq!(tcp, Some(("tcp", want)));
        }
    }

    #[tokio::test]
    async fn a_failing_transport_stops_the_others_and_is_named() {
        let seen = Seen::default();
        let server = Server::new(app())
            .transport(probe("tcp", None, &seen, false))
            .transport(probe("quic", Some(1), &seen, true));
        let err = tokio::time::timeout(Duration::from_secs(5), server.serve())
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, ServerError::Transport { name: "quic", .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("quic") && err.to_string().contains("port taken"),
            "{err}"
        );

        let err = Server::new(app()).serve().await.unwrap_err();
        assert!(matches!(err, ServerError::NoTransports));
    }

    #[tokio::test]
    async fn graceful_shutdown_future_drains() {
        let seen = Seen::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = Server::new(app()).transport(probe("tcp", None, &seen, false));
        let task = tokio::spawn(
            server.with_graceful_shutdown(async { rx.await.unwrap_or(()) }, Duration::from_secs(1)),
        );
        tx.send(()).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(report.cut, 1);
    }

    #[tokio::test]
    async fn an_endless_grace_period_is_not_a_panic() {
        let (trigger, shutdown) = Shutdown::pair();
        trigger.shutdown(Duration::MAX);
        assert!(shutdown.deadline().unwrap() > Instant::now() + Duration::from_secs(86_400 * 365));
    }

    #[test]
    fn gauge_counts_guards() {
        let g = ConnectionGauge::new();
        let a = g.guard();
        let b = g.guard();
        assert_eq!(g.live(), 2);
        drop(a);
        drop(b);
        assert_eq!(g.live(), 0);
    }
}
