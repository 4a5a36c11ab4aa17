//! One connection's task: the acceptor chain, then hyper, until the connection ends, goes
//! idle, or the transport drains.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use twinport::transport::request::record_connection;
use twinport::transport::{ConnectionGauge, ErrorChain, Event, Handshake, HandshakeFailure};
use twinport::{
    connection_info::ConnectionInfoBuilder, transport::HttpService, transport::Shutdown, BoxError,
};

use crate::accept::{AcceptError, Acceptor};
use crate::body::RequestBody;
use crate::config::HttpConfig;
use crate::io::ConnIo;
use crate::linger::{Lent, LingerEnd};
use crate::service::ConnService;
use crate::streams::{StreamExecutor, WithStreams};

/// What every connection of a transport shares: its [`HttpConfig`] (timeouts, limits, and
/// the HTTP/2 builders made from it per connection, with the connection's
/// [`StreamExecutor`]), hyper's HTTP/1.1 builder made once, and the count of lingering
/// connections.
pub(crate) struct Builders {
    config: HttpConfig,
    http1: hyper::server::conn::http1::Builder,
    /// The connections in their lingering close, for the drain report.
    pub(crate) lingering: ConnectionGauge,
}

impl Builders {
    pub(crate) fn new(config: &HttpConfig) -> Self {
        Self {
            config: config.clone(),
            http1: config.http1(),
            lingering: ConnectionGauge::new(),
        }
    }

    /// The executor of one connection's HTTP/2 streams.
    fn stream_executor(&self) -> StreamExecutor {
        if self.config.http2_spawn_streams {
            StreamExecutor::spawning()
        } else {
            StreamExecutor::in_connection()
        }
    }
}

/// Which HTTP the connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// TLS with ALPN `h2`: HTTP/2 only, a bad preface is a protocol error.
    H2,
    /// TLS with ALPN `http/1.1` or none: HTTP/1.1 only.
    H1,
    /// Plaintext: HTTP/1.1, or HTTP/2 with prior knowledge (h2c), told apart by the preface.
    Auto,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::H2 => "h2",
            Self::H1 => "http/1.1",
            Self::Auto => "h1/h2c",
        }
    }
}

pub(crate) async fn serve_connection<I, A, S>(
    io: I,
    info: ConnectionInfoBuilder,
    acceptor: A,
    service: S,
    builders: Arc<Builders>,
    shutdown: Shutdown,
) where
    A: Acceptor<I>,
    S: HttpService<RequestBody>,
{
    let limit = builders.config.accept_timeout;
    let handshake = Handshake::start(info.transport_kind().as_str());
    // A connection accepted before a shutdown began finishes its handshake (within the accept
    // timeout, and the shutdown's deadline cuts it like any other): its client did nothing
    // wrong, and its first request is then served with `Connection: close` (or before the
    // HTTP/2 GOAWAY's last stream). Dropping it here lost that request on every restart.
    // It has `FIRST_REQUEST_WAIT` once the drain began, so that a client stalling its
    // handshake cannot hold the drain for the whole accept timeout.
    let drained = async {
        shutdown.draining().await;
        tokio::time::sleep(FIRST_REQUEST_WAIT).await;
    };
    let accepted = tokio::select! {
        accepted = tokio::time::timeout(limit, acceptor.accept(io, info)) => accepted,
        () = drained => {
            handshake.failed(HandshakeFailure::Timeout);
            tracing::debug!("handshake not done within {FIRST_REQUEST_WAIT:?} of the drain");
            return;
        }
    };
    let (io, info) = match accepted {
        Ok(Ok(ready)) => ready,
        Ok(Err(error)) => {
            handshake.failed(error.failure());
            log_accept_error(&error);
            return;
        }
        Err(_) => {
            handshake.failed(HandshakeFailure::Timeout);
            log_accept_error(&AcceptError::Timeout {
                stage: "accept",
                after: limit,
            });
            return;
        }
    };
    let info = info.build();
    handshake.done(info.tls().is_some_and(|tls| tls.resumed()));
    let protocol = match (info.tls().is_some(), info.alpn()) {
        (true, Some(b"h2")) => Protocol::H2,
        (true, _) => Protocol::H1,
        (false, _) => Protocol::Auto,
    };
    record_connection(&tracing::Span::current(), &info, protocol.as_str());
    tracing::debug!(tls = ?info.tls().and_then(|t| t.version_str()), "connection ready");

    let activity = Arc::new(AtomicU64::new(0));
    let transport = info.transport().as_str();
    let (io, mut back) = Lent::new(
        ConnIo::new(
            io,
            activity.clone(),
            builders.config.write_stall_timeout,
            transport,
        )
        // Streams in their connection's task write together without it.
        .coalesce(protocol == Protocol::H2 && builders.config.http2_spawn_streams),
    );
    let io = TokioIo::new(io);
    let svc = ConnService::new(service, info);
    let idle = Idle {
        transport,
        timeout: builders.config.idle_timeout,
        close_timeout: builders.config.idle_close_timeout,
        activity,
    };
    // Each connection boxed: inline, the three connection types (and their moves into
    // `drive`) made every connection's task about 7.7 KB, whichever protocol it spoke.
    match protocol {
        Protocol::H2 => {
            let exec = builders.stream_executor();
            let conn = builders
                .config
                .http2(exec.clone())
                .serve_connection(io, svc);
            let conn = WithStreams::new(conn, &exec);
            drive_streams(conn, |c| c.graceful_shutdown(), shutdown, idle).await
        }
        Protocol::H1 => {
            let conn = Box::pin(builders.http1.serve_connection(io, svc).with_upgrades());
            drive(conn, |c| c.graceful_shutdown(), shutdown, idle).await
        }
        Protocol::Auto => {
            let exec = builders.stream_executor();
            let auto = builders.config.auto(exec.clone());
            let conn = WithStreams::new(auto.serve_connection_with_upgrades(io, svc), &exec);
            drive_streams(conn, |c| c.graceful_shutdown(), shutdown, idle).await
        }
    }
    // hyper has dropped the stream, unless an upgrade (a WebSocket) took it.
    if let Ok(io) = back.try_recv() {
        // Boxed: its read buffer would otherwise enlarge every connection's task.
        Box::pin(linger(io, &builders)).await;
    }
}

/// Closes the stream hyper is done with, lingering as the transport's
/// [`Linger`](crate::linger::Linger) says.
async fn linger<IO>(io: IO, builders: &Builders)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if builders.config.linger.time.is_zero() {
        return;
    }
    let _counted = builders.lingering.guard();
    let (end, discarded) = builders.config.linger.close(io).await;
    match end {
        LingerEnd::ClientClosed | LingerEnd::Failed => {
            tracing::trace!(?end, discarded, "lingering close ended");
        }
        LingerEnd::Quiet | LingerEnd::TimeLimit | LingerEnd::ByteLimit => {
            tracing::debug!(?end, discarded, "lingering close cut short");
        }
    }
}

fn log_accept_error(error: &AcceptError) {
    if error.is_warning() {
        tracing::warn!(error = %ErrorChain::new(error), "connection closed before HTTP");
    } else if matches!(error, AcceptError::Refused(_)) {
        // A policy decision of the user's acceptor: worth a line at the default level.
        tracing::info!(error = %ErrorChain::new(error), "connection refused");
    } else {
        tracing::debug!(error = %ErrorChain::new(error), "connection closed before HTTP");
    }
}

/// The idle policy of one connection: how long it may be silent, how long the graceful close
/// that follows may take, and the counter of reads and writes that moved bytes.
struct Idle {
    transport: &'static str,
    timeout: Option<Duration>,
    close_timeout: Duration,
    activity: Arc<AtomicU64>,
}

/// Polls a hyper connection to its end, shutting it down gracefully when the transport
/// drains or the connection has been silent for a whole idle period. A close started by the
/// idle timeout has a deadline of its own: responses that can never finish (a peer that
/// grants no HTTP/2 flow-control credit) do not keep the connection past it.
async fn drive<C, E, F>(mut conn: Pin<Box<C>>, mut graceful: F, shutdown: Shutdown, idle: Idle)
where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    F: FnMut(Pin<&mut C>),
{
    let mut closing = false;
    let mut ticker = idle.timeout.map(|period| {
        // A huge period never ticks rather than overflowing the clock.
        let start = twinport::transport::deadline_after(period);
        let mut t = tokio::time::interval_at(start, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    // Armed when the idle timeout starts a graceful close.
    let mut close_deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let mut seen = idle.activity.load(Ordering::Relaxed);
    // A connection whose client connected before a drain began but has read nothing yet (its
    // request is on its way) waits for that request before the graceful shutdown: hyper's
    // HTTP/1.1 shutdown closes a connection between requests at once, first one included.
    // (Any I/O counts: an HTTP/2 connection has written its SETTINGS, so it never waits, and
    // needs not: its GOAWAY tells the client, and what the client sent before is served.)
    let fresh = seen;
    let mut awaiting: Option<(tokio::time::Interval, Instant)> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                match result {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(e) => {
                        let e: BoxError = e.into();
                        tracing::debug!(error = %ErrorChain::new(&*e), "connection ended with an error");
                    }
                }
                return;
            }
            _ = shutdown.draining(), if !closing && awaiting.is_none() => {
                if idle.activity.load(Ordering::Relaxed) == fresh {
                    let until = Instant::now() + FIRST_REQUEST_WAIT;
                    awaiting = Some((tokio::time::interval(FIRST_REQUEST_POLL), until));
                } else {
                    closing = true;
                    graceful(conn.as_mut());
                }
            }
            at = tick_awaiting(&mut awaiting), if !closing => {
                let read = idle.activity.load(Ordering::Relaxed) != fresh;
                if read || awaiting.as_ref().is_some_and(|(_, until)| at >= *until) {
                    awaiting = None;
                    closing = true;
                    graceful(conn.as_mut());
                }
            }
            _ = tick(&mut ticker), if !closing => {
                let now = idle.activity.load(Ordering::Relaxed);
                if now == seen {
                    tracing::debug!("idle timeout; closing gracefully");
                    let reason = "idle_timeout";
                    Event::Closed { transport: idle.transport, reason }.record();
                    closing = true;
                    graceful(conn.as_mut());
                    close_deadline = Some(Box::pin(tokio::time::sleep_until(
                        twinport::transport::deadline_after(idle.close_timeout),
                    )));
                }
                seen = now;
            }
            () = until(&mut close_deadline), if close_deadline.is_some() => {
                tracing::debug!(
                    after = ?idle.close_timeout,
                    "graceful close after the idle timeout did not finish; cutting the connection"
                );
                return;
            }
        }
    }
}

/// [`drive`] for a connection whose HTTP/2 streams run in its task: `graceful` reaches hyper's
/// connection through them.
async fn drive_streams<C, E, F>(
    conn: WithStreams<C>,
    mut graceful: F,
    shutdown: Shutdown,
    idle: Idle,
) where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    F: FnMut(Pin<&mut C>),
{
    let graceful = move |c: Pin<&mut WithStreams<C>>| c.get_mut().with_conn(&mut graceful);
    drive(Box::pin(conn), graceful, shutdown, idle).await
}

/// How long a connection made before a drain may take to send its first request, and how
/// often it is checked for it.
const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(1);
const FIRST_REQUEST_POLL: Duration = Duration::from_millis(5);

/// The next check for a first request, if one is awaited; the time of the check.
async fn tick_awaiting(awaiting: &mut Option<(tokio::time::Interval, Instant)>) -> Instant {
    match awaiting {
        Some((t, _)) => t.tick().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the deadline, if there is one, has passed.
async fn until(deadline: &mut Option<Pin<Box<tokio::time::Sleep>>>) {
    match deadline {
        Some(d) => d.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
