//! [`Requests`]: the request streams of one connection in flight, run in the connection's own
//! task (the default) or each in a tokio task of its own
//! ([`Http3Config::spawn_requests`](crate::Http3Config::spawn_requests)).
//!
//! In the connection's task a request costs no spawn and no wake-up across tasks: quinn's
//! connection driver then sends what all the requests ready in one wake-up wrote. One
//! connection's handlers share one thread at a time, so a handler that computes for long
//! without an `.await` holds its connection's other requests (other connections go on).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::task::JoinSet;

type Request = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The requests of one connection in flight.
pub(crate) enum Requests {
    /// Polled by the connection's task.
    InConnection(FuturesUnordered<Request>),
    /// Each a tokio task.
    Spawned(JoinSet<()>),
}

impl Requests {
    pub(crate) fn new(spawn: bool) -> Self {
        if spawn {
            Self::Spawned(JoinSet::new())
        } else {
            Self::InConnection(FuturesUnordered::new())
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::InConnection(r) => r.len(),
            Self::Spawned(r) => r.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts serving `request`, boxed: in the connection's task the requests share one
    /// `FuturesUnordered`, which needs one type; as a task, the future (kilobytes) would
    /// otherwise be moved several times per request (spawn, completion), where a box is one
    /// allocation and one copy (see BENCHMARKS.md).
    pub(crate) fn start(&mut self, request: impl Future<Output = ()> + Send + 'static) {
        match self {
            Self::InConnection(r) => {
                // A panic outside the handler (which the request guard already catches) ends
                // its request, not the connection and its other requests.
                let request = AssertUnwindSafe(request).catch_unwind().map(|ended| {
                    if ended.is_err() {
                        panicked();
                    }
                });
                r.push(Box::pin(request));
            }
            Self::Spawned(r) => {
                r.spawn(Box::pin(request));
            }
        }
    }

    /// Runs the requests until one of them ends (`None` when there are none).
    pub(crate) async fn next(&mut self) -> Option<()> {
        match self {
            Self::InConnection(r) => r.next().await,
            Self::Spawned(r) => {
                let joined = r.join_next().await?;
                if joined.is_err_and(|e| e.is_panic()) {
                    panicked();
                }
                Some(())
            }
        }
    }
}

fn panicked() {
    tracing::error!("request task panicked outside the handler");
}
