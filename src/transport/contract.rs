//! [`Transport`]: what the [`Server`](crate::Server) asks of a way of carrying requests, and
//! what it hands one.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use super::ConnectionGauge;
use super::Shutdown;
use crate::BoxError;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a transport gets from the [`Server`](crate::Server) when it starts serving.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportContext {
    /// The shared shutdown signal.
    pub shutdown: Shutdown,
    /// Where the transport counts its live connections.
    pub connections: ConnectionGauge,
}

impl TransportContext {
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
    /// Connections still serving when the grace period ran out, closed without waiting:
    /// their responses in flight were lost.
    pub cut: usize,
    /// Connections whose responses had all been sent, still lingering when the grace period
    /// ran out: the server was reading and discarding what their clients still sent, waiting
    /// for them to close (a lingering close), and closed them then.
    pub lingering: usize,
}

impl DrainReport {
    /// A report of `cut` connections closed at the deadline.
    pub fn new(cut: usize) -> Self {
        Self { cut, lingering: 0 }
    }

    /// The same report, with `lingering` connections closed at the deadline while they
    /// lingered.
    pub fn with_lingering(self, lingering: usize) -> Self {
        Self { lingering, ..self }
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

    /// Whether its connections use TLS: `Some(false)` for plaintext HTTP (an `http://`
    /// origin), `None` (the default) when it cannot tell. A [`Server`](crate::Server) refuses
    /// to start a plaintext transport beside HTTP/3 while it advertises HTTP/3 automatically:
    /// HTTP/3 needs an `https://` origin, so the Alt-Svc it would send there is a mistake
    /// (see [`TransportError::PlaintextBesideHttp3`](crate::TransportError::PlaintextBesideHttp3)).
    fn uses_tls(&self) -> Option<bool> {
        None
    }

    /// Serves `service` until `ctx.shutdown` fires and in-flight work has drained (or the
    /// deadline passed), or a fatal error occurs.
    fn serve(self, service: S, ctx: TransportContext) -> BoxFuture<Result<DrainReport, BoxError>>;
}
