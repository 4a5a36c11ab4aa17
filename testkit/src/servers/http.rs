//! One `twinport_hyper::Http` serving the [`info`](crate::apps::info) app, with a shutdown
//! trigger of its own.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use twinport::{DrainReport, Server, TransportError};
use twinport_hyper::{Acceptor, Http, Listener};

use crate::apps::info::router;
use crate::logs::init_tracing;
use crate::time::within;

/// A running `Http`.
pub struct HttpServer {
    addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<DrainReport, TransportError>>,
}

impl HttpServer {
    /// Its address (a TCP listener's).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP server")
    }

    /// Starts the graceful shutdown, with the grace period it was served with.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits for the drain report.
    pub async fn stop(mut self) -> DrainReport {
        self.begin_shutdown();
        self.join().await
    }

    /// Waits for the drain report of a shutdown begun before.
    pub async fn join(self) -> DrainReport {
        within(self.task).await.unwrap().unwrap()
    }
}

/// Serves the info app on `http`, draining for at most `grace` when shut down.
pub fn serve_http<A, L>(http: Http<A, L>, grace: Duration) -> HttpServer
where
    L: Listener,
    A: Acceptor<L::Io>,
{
    init_tracing();
    let addr = http.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = Server::new(router())
        .transport(http)
        .with_graceful_shutdown(async move {
            let _ = rx.await;
        })
        .grace_period(grace);
    let task = tokio::spawn(server.into_future());
    HttpServer {
        addr,
        stop: Some(tx),
        task,
    }
}

/// Plaintext HTTP/1.1 and h2c on 127.0.0.1, with a 5 s grace period.
pub async fn plain_server() -> HttpServer {
    serve_http(
        Http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap(),
        Duration::from_secs(5),
    )
}
