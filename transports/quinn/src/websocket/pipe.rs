//! [`UpgradePipe`]: a hyper `OnUpgrade` for a request that hyper did not receive.
//!
//! Handlers that take over a connection (axum's `WebSocketUpgrade`, any code built on
//! `hyper::upgrade::on` that answers an extended CONNECT with 2xx) take
//! `hyper::upgrade::OnUpgrade` out of the request and await it; only hyper can make one. So the pipe runs hyper's HTTP/1.1 server in memory, on
//! one end of a `tokio::io::duplex`, and writes one `CONNECT` into the other end. The server's
//! service hands that request's `OnUpgrade` to the HTTP/3 request and answers with the status
//! the real handler chose. On a 2xx hyper upgrades: the handler's `Upgraded` is the server's
//! end of the duplex, [`UpgradePipe::accept`] returns the other end past the response head,
//! and what one writes the other reads, unchanged. Nothing of HTTP/1.1 reaches the network.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Bytes each direction of the duplex holds before the writer waits for the reader: this,
/// with hyper's buffers, is all a tunnel buffers, whatever the peer sends.
pub(crate) const PIPE_BUFFER: usize = 32 * 1024;

/// The pipe's own request (its authority is never resolved, never sent anywhere).
const PIPE_REQUEST: &[u8] =
    b"CONNECT upgrade.twinport.invalid:443 HTTP/1.1\r\nhost: upgrade.twinport.invalid:443\r\n\r\n";

/// The longest response head the pipe reads (hyper's is a status line and a `date`).
const MAX_HEAD: usize = 1024;

/// Why the pipe could not give an upgrade.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PipeError {
    #[error("the in-memory HTTP/1.1 pipe failed")]
    Io(#[from] std::io::Error),
    #[error("the in-memory HTTP/1.1 pipe closed before the upgrade")]
    Closed,
    #[error("the in-memory HTTP/1.1 pipe answered {0:?} instead of upgrading")]
    Refused(String),
}

/// What the pipe's server hands over, once: the `OnUpgrade` out, the status to answer in.
struct Slot {
    upgrade: oneshot::Sender<OnUpgrade>,
    status: oneshot::Receiver<StatusCode>,
}

/// The other end of an accepted upgrade: what the handler writes comes out of `io`, after
/// `first` (read with the response head); what is written into `io` the handler reads.
pub(crate) struct AppEnd {
    pub(crate) io: DuplexStream,
    pub(crate) first: Bytes,
}

/// An upgrade in progress: the handler has its `OnUpgrade`; [`accept`](Self::accept)
/// completes it. Dropped before that, it aborts the pipe's server.
pub(crate) struct UpgradePipe {
    status: Option<oneshot::Sender<StatusCode>>,
    client: Option<DuplexStream>,
    server: AbortHandle,
    upgraded: bool,
}

impl Drop for UpgradePipe {
    fn drop(&mut self) {
        // After an upgrade the server's task ends by itself, once it has handed the handler
        // its end.
        if !self.upgraded {
            self.server.abort();
        }
    }
}

impl UpgradePipe {
    /// Starts the pipe; returns it with the `OnUpgrade` to put into the handler's request.
    pub(crate) async fn open() -> Result<(Self, OnUpgrade), PipeError> {
        let (mut client, server_io) = tokio::io::duplex(PIPE_BUFFER);
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
        })
        .abort_handle();
        let mut pipe = Self {
            status: Some(status_tx),
            client: None,
            server,
            upgraded: false,
        };
        client.write_all(PIPE_REQUEST).await?;
        pipe.client = Some(client);
        let on_upgrade = upgrade_rx.await.map_err(|_| PipeError::Closed)?;
        Ok((pipe, on_upgrade))
    }

    /// Answers with `status` (a 2xx) and returns the other end of the handler's connection.
    pub(crate) async fn accept(mut self, status: StatusCode) -> Result<AppEnd, PipeError> {
        let (Some(tx), Some(mut io)) = (self.status.take(), self.client.take()) else {
            return Err(PipeError::Closed);
        };
        tx.send(status).map_err(|_| PipeError::Closed)?;
        let mut head = BytesMut::with_capacity(256);
        let end = loop {
            if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if head.len() > MAX_HEAD || io.read_buf(&mut head).await? == 0 {
                return Err(PipeError::Closed);
            }
        };
        let first = head.split_off(end).freeze();
        // "HTTP/1.1 200 OK": a 2xx is the upgrade.
        if !head.starts_with(b"HTTP/1.1 2") {
            let line = head[..].split(|&b| b == b'\r').next().unwrap_or_default();
            return Err(PipeError::Refused(
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        self.upgraded = true;
        Ok(AppEnd { io, first })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_pipe_keeps_the_cause() {
        let e = PipeError::from(std::io::Error::other("duplex closed"));
        twinport_testkit::errors::assert_cause_once(&e, "duplex closed");
    }
}
