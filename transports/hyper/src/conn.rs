//! One connection's task: the acceptor chain, then hyper, until the connection ends, goes
//! idle, or the transport drains.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use twinport::request::record_connection;
use twinport::{BoxError, ConnectionInfoBuilder, HttpService, Shutdown};

use crate::accept::{AcceptError, Acceptor};
use crate::config::HttpConfig;
use crate::service::ConnService;

/// hyper's connection builders, made once per transport from its [`HttpConfig`].
pub(crate) struct Builders {
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    auto: hyper_util::server::conn::auto::Builder<TokioExecutor>,
    accept_timeout: Duration,
    idle_timeout: Option<Duration>,
}

impl Builders {
    pub(crate) fn new(config: &HttpConfig) -> Self {
        Self {
            http1: config.http1(),
            http2: config.http2(),
            auto: config.auto(),
            accept_timeout: config.accept_timeout,
            idle_timeout: config.idle_timeout,
        }
    }
}

/// Which HTTP the connection speaks.
#[derive(Clone, Copy, Debug)]
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
    S: HttpService<Incoming>,
{
    let limit = builders.accept_timeout;
    let accepted = tokio::select! {
        biased;
        _ = shutdown.draining() => {
            tracing::debug!("shutting down before the connection was ready");
            return;
        }
        r = tokio::time::timeout(limit, acceptor.accept(io, info)) => r,
    };
    let (io, info) = match accepted {
        Ok(Ok(ready)) => ready,
        Ok(Err(error)) => {
            log_accept_error(&error);
            return;
        }
        Err(_) => {
            log_accept_error(&AcceptError::Timeout {
                stage: "accept",
                after: limit,
            });
            return;
        }
    };
    let info = info.build();
    let protocol = match (info.tls().is_some(), info.alpn()) {
        (true, Some(b"h2")) => Protocol::H2,
        (true, _) => Protocol::H1,
        (false, _) => Protocol::Auto,
    };
    record_connection(&tracing::Span::current(), &info, protocol.as_str());
    tracing::debug!(tls = ?info.tls().and_then(|t| t.version_str()), "connection ready");

    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(ActivityIo {
        inner: io,
        activity: activity.clone(),
    });
    let svc = ConnService::new(service, info);
    let idle = builders.idle_timeout;
    // Each connection boxed: inline, the three connection types (and their moves into
    // `drive`) made every connection's task about 7.7 KB, whichever protocol it spoke.
    match protocol {
        Protocol::H2 => {
            let conn = Box::pin(builders.http2.serve_connection(io, svc));
            drive(conn, |c| c.graceful_shutdown(), shutdown, idle, activity).await
        }
        Protocol::H1 => {
            let conn = Box::pin(builders.http1.serve_connection(io, svc).with_upgrades());
            drive(conn, |c| c.graceful_shutdown(), shutdown, idle, activity).await
        }
        Protocol::Auto => {
            let conn = Box::pin(builders.auto.serve_connection_with_upgrades(io, svc));
            drive(conn, |c| c.graceful_shutdown(), shutdown, idle, activity).await
        }
    }
}

fn log_accept_error(error: &AcceptError) {
    if error.is_warning() {
        tracing::warn!(%error, "connection closed before HTTP");
    } else if matches!(error, AcceptError::Refused(_)) {
        // A policy decision of the user's acceptor: worth a line at the default level.
        tracing::info!(%error, "connection refused");
    } else {
        tracing::debug!(%error, "connection closed before HTTP");
    }
}

/// Polls a hyper connection to its end, shutting it down gracefully when the transport
/// drains or the connection has been silent for a whole idle period.
async fn drive<C, E, F>(
    mut conn: Pin<Box<C>>,
    mut graceful: F,
    shutdown: Shutdown,
    idle: Option<Duration>,
    activity: Arc<AtomicU64>,
) where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    F: FnMut(Pin<&mut C>),
{
    let mut closing = false;
    let mut ticker = idle.map(|period| {
        // A huge period never ticks rather than overflowing the clock.
        let start = twinport::server::deadline_after(period);
        let mut t = tokio::time::interval_at(start, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut seen = activity.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                match result {
                    Ok(()) => tracing::debug!("connection closed"),
                    Err(e) => {
                        let e: BoxError = e.into();
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                return;
            }
            _ = shutdown.draining(), if !closing => {
                closing = true;
                graceful(conn.as_mut());
            }
            _ = tick(&mut ticker), if !closing => {
                let now = activity.load(Ordering::Relaxed);
                if now == seen {
                    tracing::debug!("idle timeout; closing gracefully");
                    closing = true;
                    graceful(conn.as_mut());
                }
                seen = now;
            }
        }
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

/// Counts reads and writes that moved bytes, for the idle timeout.
struct ActivityIo<IO> {
    inner: IO,
    activity: Arc<AtomicU64>,
}

impl<IO> ActivityIo<IO> {
    fn touch(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ActivityIo<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        res
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ActivityIo<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
