//! [`Accepting`]: what [`Http`](crate::Http) gives the core's connection lifecycle — how to
//! accept one connection (a free slot first, back-off on errors such as `EMFILE`) and the
//! task that readies and serves it.

use std::future::poll_fn;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use twinport::transport::request::connection_span;
use twinport::transport::{BoxFuture, ErrorChain, Listen};
use twinport::{transport::HttpService, transport::Shutdown};

use crate::accept::Acceptor;
use crate::body::RequestBody;
use crate::config::HttpConfig;
use crate::conn::{serve_connection, Builders};
use crate::listener::Listener;

/// One `Http` transport's listener, acceptor chain and service, accepting.
pub(crate) struct Accepting<A, L, S> {
    /// `None` once the drain has started: closing the listener refuses new connections.
    listener: Option<L>,
    acceptor: A,
    service: S,
    builders: Arc<Builders>,
    shutdown: Shutdown,
    limit: Option<Arc<Semaphore>>,
    /// A slot taken for the next connection, kept if the accept is dropped before it.
    slot: Option<Slot>,
    backoff: Backoff,
}

impl<A, L, S> Accepting<A, L, S> {
    pub(crate) fn new(
        listener: L,
        acceptor: A,
        service: S,
        config: &HttpConfig,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            listener: Some(listener),
            acceptor,
            service,
            builders: Arc::new(Builders::new(config)),
            shutdown,
            limit: config.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            slot: None,
            backoff: Backoff::default(),
        }
    }
}

impl<A, L, S> Listen for Accepting<A, L, S>
where
    L: Listener,
    A: Acceptor<L::Io>,
    S: HttpService<RequestBody>,
{
    type Connection = BoxFuture<()>;

    async fn accept(&mut self) -> Option<BoxFuture<()>> {
        loop {
            if self.slot.is_none() {
                self.slot = Some(acquire(self.limit.as_ref()).await);
            }
            let listener = self.listener.as_mut()?;
            let name = listener.name();
            match poll_fn(|cx| listener.poll_accept(cx)).await {
                Ok((io, info)) => {
                    self.backoff.reset();
                    let span = connection_span(name, info.remote_addr_ref());
                    let permit = self.slot.take();
                    let conn = serve_connection(
                        io,
                        info,
                        self.acceptor.clone(),
                        self.service.clone(),
                        self.builders.clone(),
                        self.shutdown.clone(),
                    );
                    return Some(Box::pin(
                        async move {
                            conn.await;
                            drop(permit);
                        }
                        .instrument(span),
                    ));
                }
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(transport = name, %error, "accept: peer gone");
                }
                Err(error) => {
                    let pause = self.backoff.next();
                    tracing::error!(
                        transport = name,
                        error = %ErrorChain::new(&error),
                        retry_in = ?pause,
                        "accept failed; retrying",
                    );
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    fn stop_accepting(&mut self) {
        self.listener = None;
    }

    fn lingering(&self) -> usize {
        self.builders.lingering.live()
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
