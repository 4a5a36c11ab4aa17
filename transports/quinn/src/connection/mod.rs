//! Serving one HTTP/3 connection: the server's control stream, the client's streams (each
//! request in its own task, unidirectional streams by type), GOAWAY and drain on shutdown,
//! and closing only once every response has been acknowledged.

pub(crate) mod acks;
pub(crate) mod context;
pub(crate) mod datagrams;
pub(crate) mod malformed;
pub(crate) mod rate;
pub(crate) mod uni;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::task::JoinSet;
use tokio::time::Instant;
use twinport::HttpService;

use self::context::{Ctx, Setup};
use crate::body::RecvBody;
use crate::codes::{H3_NO_ERROR, H3_REQUEST_REJECTED};
use crate::control::{self, ControlSender};
use crate::request;

/// How long a connection whose client went away waits for its last acknowledgements.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Which request streams are served: those below the GOAWAY id once it is sent (RFC 9114
/// §5.2: a stream id at or above it is not processed).
struct Admission {
    /// One past the highest client bidirectional stream id accepted, in stream-id steps.
    next: u64,
    /// Streams with an id at or above this are refused; `u64::MAX` until GOAWAY.
    limit: u64,
}

impl Admission {
    fn admit(&mut self, id: u64) -> bool {
        if id >= self.limit {
            return false;
        }
        self.next = self.next.max(id + 4);
        true
    }

    /// Refuses every stream not yet accepted; the GOAWAY id to announce.
    fn close(&mut self) -> u64 {
        self.limit = self.next;
        self.next
    }
}

pub(crate) async fn serve_connection<S>(setup: Setup, service: S)
where
    S: HttpService<RecvBody>,
{
    // The stricter of the two limits: raising the QUIC one here would undo a user's
    // `QuicConfig::max_concurrent_bidi_streams` hardening.
    let streams = setup
        .config
        .max_concurrent_requests
        .min(setup.max_bidi_streams);
    setup.conn.set_max_concurrent_bi_streams(streams.into());
    let ctx = Arc::new(Ctx::new(setup));
    let _datagrams = AbortOnDrop(tokio::spawn(datagrams::route(ctx.clone())));
    let _settings = ctx
        .config
        .settings_timeout
        .map(|wait| AbortOnDrop(tokio::spawn(control::require_settings(ctx.clone(), wait))));
    let mut control = match ControlSender::open(&ctx).await {
        Ok(control) => control,
        Err(e) => {
            tracing::debug!(error = %e, "could not open the control stream");
            return;
        }
    };

    let mut requests = JoinSet::new();
    let mut uni = JoinSet::new();
    let mut admission = Admission {
        next: 0,
        limit: u64::MAX,
    };
    let mut draining = false;
    let mut accepting = true;
    let mut uni_open = true;
    // Made once (and the accept futures again only once they complete): they are polled on
    // every turn of the loop.
    let mut drain_signal = std::pin::pin!(ctx.shutdown.draining());
    let quic = ctx.quic.clone();
    let mut accept_bi = std::pin::pin!(quic.accept_bi());
    let mut accept_uni = std::pin::pin!(quic.accept_uni());
    let mut going_away = std::pin::pin!(ctx.peer.going_away.notified());
    'serve: loop {
        let mut send_goaway = false;
        while !((draining || !accepting) && requests.is_empty()) {
            tokio::select! {
                _ = &mut drain_signal, if !draining => {
                    draining = true;
                    send_goaway = true;
                    break;
                }
                accepted = &mut accept_bi, if accepting => match accepted {
                    Ok((mut send, mut recv)) => {
                        accept_bi.set(quic.accept_bi());
                        if !admission.admit(send.id().into()) {
                            // Above the GOAWAY id: not processed, so the client may retry it
                            // elsewhere.
                            let _ = send.reset(H3_REQUEST_REJECTED);
                            let _ = recv.stop(H3_REQUEST_REJECTED);
                            continue;
                        }
                        let task = request::serve(ctx.clone(), service.clone(), send, recv);
                        // Boxed: the runtime moves a task's future several times per
                        // request (spawn, completion), and this one is kilobytes; a box
                        // is one allocation and one copy (see BENCHMARKS.md).
                        requests.spawn(Box::pin(task));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "connection ended");
                        // The connection is gone: no response can be delivered any more.
                        requests.abort_all();
                        accepting = false;
                    }
                },
                accepted = &mut accept_uni, if accepting && uni_open => match accepted {
                    Ok(recv) => {
                        accept_uni.set(quic.accept_uni());
                        uni.spawn(uni::serve(ctx.clone(), recv));
                    }
                    // The connection is gone; accept_bi says so too.
                    Err(_) => uni_open = false,
                },
                _ = &mut going_away, if accepting => {
                    // The client is done: serve what is in flight, then close.
                    accepting = false;
                }
                Some(_) = uni.join_next(), if !uni.is_empty() => {}
                Some(joined) = requests.join_next(), if !requests.is_empty() => joined_request(joined),
            }
        }
        if !send_goaway {
            break;
        }
        let goaway = admission.close();
        tracing::debug!(goaway, in_flight = requests.len(), "sending GOAWAY");
        // The GOAWAY write is a branch of its own: a client that grants no credit on the
        // control stream must not stall the requests in flight or their acknowledgements.
        let mut sending = std::pin::pin!(control.goaway(goaway));
        loop {
            if requests.is_empty() {
                // Nothing left to wait for: one try at the GOAWAY, then close.
                if let Some(Err(e)) = sending.as_mut().now_or_never() {
                    tracing::debug!(error = %e, "could not send GOAWAY");
                }
                break 'serve;
            }
            tokio::select! {
                sent = &mut sending => {
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "could not send GOAWAY");
                    }
                    // Back to serving what is in flight (and accepting below the GOAWAY id).
                    continue 'serve;
                }
                Some(joined) = requests.join_next() => joined_request(joined),
            }
        }
    }

    // Never close before the last response is acknowledged: closing discards unsent data.
    let mut flushing: FuturesUnordered<_> = ctx.acks.take().into_iter().collect();
    let until = ctx
        .shutdown
        .deadline()
        .unwrap_or_else(|| Instant::now() + FLUSH_WAIT);
    let flushed =
        tokio::time::timeout_at(until, async { while flushing.next().await.is_some() {} }).await;
    if flushed.is_err() {
        tracing::debug!("closing with responses still unacknowledged");
    }
    ctx.quic.close(
        H3_NO_ERROR,
        if draining {
            b"server shutting down"
        } else {
            b""
        },
    );
    drop(control);
}

fn joined_request(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        if e.is_panic() {
            tracing::error!("request task panicked outside the handler");
        }
    }
}
