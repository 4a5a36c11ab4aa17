//! Serving one HTTP/3 connection: the server's control stream, the client's streams (the
//! requests as [`Requests`], unidirectional streams by type, each in a task), GOAWAY and
//! drain on shutdown, and closing only once every response has been acknowledged.

pub(crate) mod acks;
pub(crate) mod context;
pub(crate) mod datagrams;
mod go_away;
pub(crate) mod malformed;
pub(crate) mod rate;
mod requests;
mod state;
pub(crate) mod uni;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::task::JoinSet;
use tokio::time::Instant;
use twinport::transport::{Event, HttpService};

use self::context::{Ctx, Setup};
use self::go_away::GoAway;
use self::requests::Requests;
use self::state::State;
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

/// Serves one HTTP/3 connection until it is done with its streams, then closes it once its
/// responses are acknowledged.
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
    let state = serve_streams(&ctx, service, &mut control).await;
    flush_and_close(&ctx, state).await;
    drop(control);
}

/// Serves the client's streams until the connection is done with them: the server has shut
/// down or the client went away, and no request is left in flight.
async fn serve_streams<S>(ctx: &Arc<Ctx>, service: S, control: &mut ControlSender) -> State
where
    S: HttpService<RecvBody>,
{
    let mut state = State::Serving;
    let mut go_away = GoAway::new();
    let mut requests = Requests::new(ctx.config.spawn_requests);
    let mut uni = JoinSet::new();
    // Made once (and the accept futures again only once they complete): they are polled on
    // every turn of the loop; an accept that failed stays fused, the connection is gone.
    let mut drain_signal = pin!(ctx.shutdown.draining());
    let quic = &ctx.quic;
    let mut accept_bi = pin!(quic.accept_bi().fuse());
    let mut accept_uni = pin!(quic.accept_uni().fuse());
    let mut going_away = pin!(ctx.peer.going_away.notified());
    while !state.done(requests.len()) {
        tokio::select! {
            _ = &mut drain_signal, if !state.shutting_down() => {
                state = state.shut_down();
                let id = go_away.announce();
                tracing::debug!(goaway = id, in_flight = requests.len(), "sending GOAWAY");
                Event::GoAway { transport: "quic" }.record();
                send_goaway(control.goaway(id), &mut requests).await;
            }
            accepted = &mut accept_bi, if state.accepting() => match accepted {
                Ok((send, recv)) => {
                    accept_bi.set(quic.accept_bi().fuse());
                    if go_away.admit(send.id().into()) {
                        start_request(ctx, &service, &mut requests, send, recv);
                    } else {
                        refuse(send, recv);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "connection ended");
                    // The connection is gone: no response can be delivered any more, but the
                    // requests in flight run on until they see it (a handler reading its body
                    // gets an error, not a cancellation where it waits); each of their waits
                    // ends at once or has its timeout.
                    state = state.stop_accepting();
                }
            },
            accepted = &mut accept_uni, if state.accepting() => {
                // An error leaves the accept fused: the connection is gone, accept_bi says so.
                if let Ok(recv) = accepted {
                    accept_uni.set(quic.accept_uni().fuse());
                    uni.spawn(uni::serve(ctx.clone(), recv));
                }
            }
            // The client is done: serve what is in flight, then close.
            _ = &mut going_away, if state.accepting() => state = state.stop_accepting(),
            Some(_) = uni.join_next(), if !uni.is_empty() => {}
            Some(()) = requests.next(), if !requests.is_empty() => {}
        }
    }
    state
}

/// Serves a request stream among the connection's [`Requests`].
fn start_request<S>(
    ctx: &Arc<Ctx>,
    service: &S,
    requests: &mut Requests,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
) where
    S: HttpService<RecvBody>,
{
    requests.start(request::serve(ctx.clone(), service.clone(), send, recv));
}

/// Refuses a request stream above the GOAWAY id, unprocessed, so the client may retry it
/// elsewhere.
fn refuse(mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
    let _ = send.reset(H3_REQUEST_REJECTED);
    let _ = recv.stop(H3_REQUEST_REJECTED);
}

/// Writes GOAWAY while the requests in flight go on: a client that grants no credit on the
/// control stream must not stall them or their acknowledgements. Returns once it is written,
/// or once no request is left (after one last try).
async fn send_goaway(
    sending: impl Future<Output = Result<(), quinn::WriteError>>,
    requests: &mut Requests,
) {
    let mut sending = pin!(sending);
    loop {
        if requests.is_empty() {
            if let Some(Err(e)) = sending.as_mut().now_or_never() {
                tracing::debug!(error = %e, "could not send GOAWAY");
            }
            return;
        }
        tokio::select! {
            sent = &mut sending => {
                if let Err(e) = sent {
                    tracing::debug!(error = %e, "could not send GOAWAY");
                }
                return;
            }
            Some(()) = requests.next() => {}
        }
    }
}

/// Closes the connection once the last response is acknowledged (closing discards unsent
/// data), or at the shutdown deadline.
async fn flush_and_close(ctx: &Ctx, state: State) {
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
    ctx.quic.close(H3_NO_ERROR, state.close_reason());
}
