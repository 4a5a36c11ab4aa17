//! One `twinport_quinn::Http3` endpoint serving the [`info`](crate::apps::info) app (or a
//! service of the test's own), with a shutdown trigger of its own.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use tokio::task::JoinHandle;
use twinport::{
    transport::ConnectionGauge, transport::Shutdown, transport::ShutdownTrigger,
    transport::TransportContext, BoxError, DrainReport,
};
use twinport_quinn::{Http3, RecvBody};

use crate::apps::info::router;
use crate::logs::init_tracing;
use crate::time::bounded;

/// A running `Http3`.
pub struct Http3Server {
    /// Its UDP address.
    pub addr: SocketAddr,
    /// Starts its shutdown.
    pub trigger: ShutdownTrigger,
    /// The task serving it.
    pub task: JoinHandle<Result<DrainReport, BoxError>>,
    /// Its live connections.
    pub gauge: ConnectionGauge,
}

impl Http3Server {
    /// Shuts down with `grace`; the drain report.
    pub async fn stop(self, grace: Duration) -> DrainReport {
        self.trigger.shutdown(grace);
        bounded(grace.as_secs() + 10, "server shutdown", self.task)
            .await
            .expect("server task")
            .expect("server result")
    }
}

/// Serves the info app on `endpoint`.
pub fn serve_http3(endpoint: Http3) -> Http3Server {
    serve_http3_with(endpoint, router())
}

/// Serves `service` on `endpoint`.
pub fn serve_http3_with<S, B>(endpoint: Http3, service: S) -> Http3Server
where
    S: tower::Service<Request<RecvBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    init_tracing();
    let addr = endpoint.local_addr();
    let (trigger, shutdown) = Shutdown::pair();
    let ctx = TransportContext::new(shutdown);
    let gauge = ctx.connections.clone();
    let task = tokio::spawn(twinport::transport::Transport::serve(
        endpoint, service, ctx,
    ));
    Http3Server {
        addr,
        trigger,
        task,
        gauge,
    }
}
