//! [`UpgradePipe`]: a hyper `OnUpgrade` for a request that hyper did not receive.
//!
//! Handlers that take over a connection (axum's `WebSocketUpgrade`, hyper-tungstenite, any
//! code built on `hyper::upgrade::on`) take `hyper::upgrade::OnUpgrade` out of the request and
//! await it; only hyper can make one. So the pipe runs hyper itself, in memory: an HTTP/1.1
//! client and server on the two ends of a `tokio::io::duplex`. The client sends one `CONNECT`;
//! the server's service hands that request's `OnUpgrade` to the HTTP/3 request and answers
//! with the status the real handler chose. On a 2xx both sides upgrade: the handler's
//! `Upgraded` is the server's end of the duplex, [`UpgradePipe::accept`] returns the client's,
//! and what one writes the other reads, unchanged. Nothing of HTTP/1.1 reaches the network.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bytes each direction of the duplex holds before the writer waits for the reader: this,
/// with hyper's buffers, is all a tunnel buffers, whatever the peer sends.
pub(crate) const PIPE_BUFFER: usize = 32 * 1024;

/// The authority of the pipe's own CONNECT (never resolved, never sent anywhere).
const PIPE_AUTHORITY: &str = "upgrade.twinport.invalid:443";

/// Why the pipe could not give an upgrade.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipeError {
    #[error("the in-memory HTTP/1.1 pipe failed: {0}")]
    Hyper(#[from] hyper::Error),
    #[error("the in-memory HTTP/1.1 pipe closed before the upgrade")]
    Closed,
    #[error("the in-memory HTTP/1.1 pipe answered {0} instead of upgrading")]
    Refused(StatusCode),
}

/// What the pipe's server hands over, once: the `OnUpgrade` out, the status to answer in.
struct Slot {
    upgrade: oneshot::Sender<OnUpgrade>,
    status: oneshot::Receiver<StatusCode>,
}

/// Aborts the pipe's two connection tasks when dropped (they end on their own once upgraded
/// or once either end is dropped; this makes sure of it).
struct Tasks([JoinHandle<()>; 2]);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// An upgrade in progress: the handler has its `OnUpgrade`; [`accept`](Self::accept) completes it.
pub(crate) struct UpgradePipe {
    status: oneshot::Sender<StatusCode>,
    response: JoinHandle<Result<Response<Incoming>, hyper::Error>>,
    _tasks: Tasks,
}

impl UpgradePipe {
    /// Starts the pipe; returns it with the `OnUpgrade` to put into the handler's request.
    pub(crate) async fn open() -> Result<(Self, OnUpgrade), PipeError> {
        let (client_io, server_io) = tokio::io::duplex(PIPE_BUFFER);
        let (upgrade_tx, upgrade_rx) = oneshot::channel();
        let (status_tx, status_rx) = oneshot::channel();
        let slot = Arc::new(Mutex::new(Some(Slot {
            upgrade: upgrade_tx,
            status: status_rx,
        })));
        let service = hyper::service::service_fn(move |req| answer(slot.clone(), req));
        let server = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), service)
            .with_upgrades();
        let server = tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::trace!(error = %e, "upgrade pipe: server side ended");
            }
        });
        let (mut sender, client) =
            hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await?;
        let client = tokio::spawn(async move {
            if let Err(e) = client.with_upgrades().await {
                tracing::trace!(error = %e, "upgrade pipe: client side ended");
            }
        });
        let tasks = Tasks([server, client]);
        let request = Request::builder()
            .method(Method::CONNECT)
            .uri(PIPE_AUTHORITY)
            .body(Empty::<Bytes>::new())
            .map_err(|_| PipeError::Closed)?;
        let response = tokio::spawn(sender.send_request(request));
        let on_upgrade = upgrade_rx.await.map_err(|_| PipeError::Closed)?;
        let pipe = Self {
            status: status_tx,
            response,
            _tasks: tasks,
        };
        Ok((pipe, on_upgrade))
    }

    /// Answers with `status` (a 2xx) and returns the other end of the handler's connection.
    pub(crate) async fn accept(self, status: StatusCode) -> Result<TokioIo<Upgraded>, PipeError> {
        self.status.send(status).map_err(|_| PipeError::Closed)?;
        let response = match self.response.await {
            Ok(response) => response?,
            Err(_) => return Err(PipeError::Closed),
        };
        if !response.status().is_success() {
            return Err(PipeError::Refused(response.status()));
        }
        let upgraded = hyper::upgrade::on(response).await?;
        Ok(TokioIo::new(upgraded))
    }
}

/// The pipe's server: hands the request's `OnUpgrade` over, then answers with the status it
/// is given (a second request, which the pipe's client never sends, is refused).
async fn answer(
    slot: Arc<Mutex<Option<Slot>>>,
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, PipeError> {
    let taken = slot.lock().ok().and_then(|mut s| s.take());
    let Some(Slot { upgrade, status }) = taken else {
        return Err(PipeError::Closed);
    };
    upgrade
        .send(hyper::upgrade::on(&mut req))
        .map_err(|_| PipeError::Closed)?;
    let status = status.await.map_err(|_| PipeError::Closed)?;
    let mut response = Response::new(Empty::new());
    *response.status_mut() = status;
    Ok(response)
}
