//! One QUIC connection: its handshake (with 0-RTT when allowed), its [`ConnectionInfo`](twinport::ConnectionInfo),
//! and the protocol its ALPN routes to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;
use twinport::transport::request::{connection_span, record_connection};
use twinport::transport::{
    ConnectionGauge, ConnectionGuard, ErrorChain, Event, Handshake, HandshakeFailure,
};
use twinport::{transport::HttpService, transport::Shutdown, BoxError};

use super::Route;
use crate::body::RecvBody;
use crate::codes::{H3_GENERAL_PROTOCOL_ERROR, NO_APPLICATION_PROTOCOL, QUIC_NO_ERROR};
use crate::config::Http3Config;
use crate::connection::{self, context::Setup};
use crate::handler::QuicConnection;
use crate::handshake::Handshake as EarlyHandshake;
use crate::info;
use crate::stats;
use crate::tls::HandshakeData;
use crate::webtransport::Routes;

pub(super) struct Shared {
    pub(super) local_addr: SocketAddr,
    pub(super) routes: Vec<(Vec<u8>, Route)>,
    pub(super) http3: Arc<Http3Config>,
    pub(super) webtransport: Arc<Routes>,
    pub(super) handshake_timeout: Duration,
    pub(super) max_bidi_streams: u32,
    pub(super) early_data: bool,
    pub(super) shutdown: Shutdown,
    /// The handshakes in progress.
    pub(super) handshaking: ConnectionGauge,
}

/// Completes the handshake by `deadline`. With 0-RTT on, returns as soon as the client's
/// early data may be read, with the [`Handshake`] to wait on; the handshake stays counted
/// and bound by `deadline` until it completes, and the connection is closed if it does not.
async fn handshake(
    incoming: quinn::Incoming,
    shared: &Shared,
    counted: ConnectionGuard,
    deadline: Instant,
) -> Result<(quinn::Connection, Option<EarlyHandshake>), BoxError> {
    let mut connecting = incoming.accept()?;
    if !shared.early_data {
        return Ok((connecting.await?, None));
    }
    connecting.handshake_data().await?;
    match connecting.into_0rtt() {
        Ok((conn, connected)) => {
            let handshake = EarlyHandshake::new(connected, conn.clone(), deadline);
            let (watched, closing) = (handshake.clone(), conn.clone());
            tokio::spawn(async move {
                let _counted = counted;
                if !watched.completed().await {
                    tracing::debug!("QUIC handshake did not complete in time");
                    closing.close(QUIC_NO_ERROR, b"handshake timed out");
                }
            });
            Ok((conn, Some(handshake)))
        }
        Err(connecting) => Ok((connecting.await?, None)),
    }
}

pub(super) async fn connection<S>(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    service: S,
    counted: ConnectionGuard,
) where
    S: HttpService<RecvBody>,
{
    let remote = incoming.remote_address();
    let measured = Handshake::start("quic");
    let deadline = Instant::now() + shared.handshake_timeout;
    let handshake =
        tokio::time::timeout_at(deadline, handshake(incoming, &shared, counted, deadline));
    let (conn, handshake) = match handshake.await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            measured.failed(stats::handshake_failure(&*e));
            tracing::debug!(%remote, error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            measured.failed(HandshakeFailure::Timeout);
            tracing::debug!(%remote, "QUIC handshake timed out");
            return;
        }
    };
    let info = match info::connection_info(&conn, shared.local_addr) {
        Ok(info) => info,
        Err(e) => {
            measured.failed(HandshakeFailure::ClientCertificate);
            tracing::warn!(%remote, error = %ErrorChain::new(&e), "unreadable client certificate");
            conn.close(H3_GENERAL_PROTOCOL_ERROR, b"bad client certificate");
            return;
        }
    };
    measured.done(info.tls().is_some_and(|tls| tls.resumed()));
    if shared.early_data {
        let early = conn
            .handshake_data()
            .and_then(|d| d.downcast::<HandshakeData>().ok());
        Event::ZeroRtt {
            accepted: early.is_some_and(|d| d.early_data),
        }
        .record();
    }
    let closing = conn.clone();
    let span = connection_span("quic", Some(remote));
    record_connection(&span, &info, info.alpn_str().unwrap_or(""));
    let route = info
        .alpn()
        .and_then(|alpn| shared.routes.iter().find(|(a, _)| a == alpn))
        .map(|(_, route)| route.clone());
    async move {
        tracing::debug!("connection accepted");
        match route {
            Some(Route::Http3) => {
                let setup = Setup {
                    conn,
                    info,
                    config: shared.http3.clone(),
                    routes: shared.webtransport.clone(),
                    shutdown: shared.shutdown.clone(),
                    handshake,
                    max_bidi_streams: shared.max_bidi_streams,
                };
                connection::serve_connection(setup, service).await
            }
            Some(Route::Raw(handler)) => {
                // A raw protocol cannot tell early data from the rest: it gets the connection
                // once the handshake is complete.
                if let Some(handshake) = handshake {
                    if !handshake.completed().await {
                        tracing::debug!("QUIC handshake did not complete");
                        return;
                    }
                }
                let raw = QuicConnection {
                    connection: conn,
                    info,
                    shutdown: shared.shutdown.clone(),
                };
                if let Err(e) = handler.handle(raw).await {
                    tracing::debug!(error = %ErrorChain::new(&*e), "QUIC handler failed");
                }
            }
            None => {
                // rustls only agrees on a registered protocol; a client that offered none
                // at all gets here.
                conn.close(NO_APPLICATION_PROTOCOL, b"no application protocol");
            }
        }
        tracing::debug!("connection done");
    }
    .instrument(span)
    .await;
    stats::closed(&closing);
}
