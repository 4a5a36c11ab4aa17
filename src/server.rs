//! [`Server`]: one service on several [`Transport`]s, with one graceful shutdown.
//!
//! A transport (twinport-hyper's `Http`, twinport-quinn's `Http3`, or your own) implements
//! [`Transport`]. The server hands each the same service, wrapped in [`AltSvc`] so that, when
//! an HTTP/3 transport runs beside a TCP one, HTTP/1.1 and HTTP/2 responses advertise the real
//! UDP port. Shutdown is shared: one signal drains every transport within one grace period.
//!
//! ```no_run
//! # async fn run(app: axum::Router, http: twinport_hyper::Http, h3: twinport_quinn::Http3) -> Result<(), twinport::ServerError> {
//! use std::time::Duration;
//!
//! let report = twinport::Server::new(app)
//!     .transport(http)
//!     .transport(h3)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }, Duration::from_secs(10))
//!     .await?;
//! println!("{} connections cut at the deadline", report.cut);
//! # Ok(())
//! # }
//! ```
//!
//! The pieces it is made of are re-exported here: [`Transport`] and what it is given
//! ([`ServeContext`]) and returns ([`DrainReport`]), the [`Shutdown`] signal, the
//! [`ConnectionGauge`], and [`bind_same_port`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use http::HeaderValue;

use crate::alt_svc::{AltSvc, AltSvcLayer};
pub use crate::bind::bind_same_port;
pub use crate::gauge::{ConnectionGauge, ConnectionGuard};
pub use crate::shutdown::{deadline_after, Shutdown, ShutdownTrigger, SignalGuard};
pub use crate::transport::{BoxError, BoxFuture, DrainReport, ServeContext, Transport};

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
#[must_use = "a builder does nothing until it is used"]
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
        let _watching = self.trigger.fire_on(signal, grace);
        self.serve().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A transport that calls the service once with a request of `version`, records the
    /// response's alt-svc header, then waits for shutdown (or fails, if told to).
    struct Probe {
        name: &'static str,
        h3_port: Option<u16>,
        version: http::Version,
        seen: Seen,
        fail: bool,
    }

    impl<S: crate::HttpService<()>> Transport<S> for Probe {
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

    fn app() -> impl crate::HttpService<()> {
        tower::service_fn(|_req: http::Request<()>| {
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(
                String::new(),
            )))
        })
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
}
