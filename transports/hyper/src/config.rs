//! [`HttpConfig`]: timeouts and limits, with defaults safe to face the internet.

use std::time::Duration;

use hyper_util::rt::TokioTimer;

use crate::linger::Linger;

/// hyper's own HTTP/1 header limit. Set explicitly, even to this same value, it makes hyper
/// fill two 100-entry arrays element by element for every request (6% of the instructions of
/// a small HTTP/1.1 request, see BENCHMARKS.md), so it is only passed on when it differs.
const HYPER_MAX_HEADERS: usize = 100;

/// Timeouts and limits of an [`Http`](crate::Http) transport.
///
/// Every field has a default chosen to be safe on a public port; change the ones you need:
///
/// ```
/// use std::time::Duration;
/// use twinport_hyper::HttpConfig;
///
/// let config = HttpConfig::default()
///     .idle_timeout(Duration::from_secs(300))
///     .max_connections(50_000);
/// # let _ = config;
/// ```
///
/// The TLS handshake and PROXY header timeouts belong to their acceptors
/// ([`TlsAcceptor::handshake_timeout`](crate::TlsAcceptor::handshake_timeout),
/// [`ProxyProtocolAcceptor::header_timeout`](crate::ProxyProtocolAcceptor::header_timeout));
/// [`accept_timeout`](Self::accept_timeout) bounds the whole acceptor chain on top of them.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct HttpConfig {
    pub(crate) accept_timeout: Duration,
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) idle_close_timeout: Duration,
    pub(crate) write_stall_timeout: Option<Duration>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) http1_max_headers: usize,
    pub(crate) http2_max_concurrent_streams: u32,
    pub(crate) max_header_list_size: u32,
    pub(crate) http2_max_pending_accept_reset_streams: usize,
    pub(crate) http2_max_local_error_reset_streams: usize,
    pub(crate) http2_websockets: bool,
    pub(crate) http2_spawn_streams: bool,
    pub(crate) linger: Linger,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            accept_timeout: Duration::from_secs(30),
            header_read_timeout: Some(Duration::from_secs(15)),
            idle_timeout: Some(Duration::from_secs(120)),
            idle_close_timeout: Duration::from_secs(30),
            write_stall_timeout: Some(Duration::from_secs(30)),
            max_connections: Some(10_000),
            http1_max_headers: 100,
            http2_max_concurrent_streams: 128,
            max_header_list_size: 32 * 1024,
            http2_max_pending_accept_reset_streams: 20,
            http2_max_local_error_reset_streams: 256,
            http2_websockets: true,
            http2_spawn_streams: false,
            // nginx's lingering_time and lingering_timeout; the bytes exceed what a client's
            // socket buffers can hold in flight on Linux, so a client that stops sending when
            // it sees the response is never cut.
            linger: Linger {
                time: Duration::from_secs(30),
                timeout: Duration::from_secs(5),
                max_bytes: 16 * 1024 * 1024,
            },
        }
    }
}

impl HttpConfig {
    /// How long the whole acceptor chain (PROXY header, TLS handshake, your own acceptors)
    /// may take for one connection. Default: 30 seconds.
    pub fn accept_timeout(mut self, timeout: Duration) -> Self {
        self.accept_timeout = timeout;
        self
    }

    /// How long an HTTP/1 client has to send a request's headers, measured from when hyper
    /// starts reading them. Default: 15 seconds; `None` disables it.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// A connection on which no byte moved either way for this long is shut down gracefully
    /// (requests in flight still finish). It is checked once per period, so a connection
    /// closes between one and two periods after it fell silent. It also bounds how long a
    /// plaintext client may wait before sending its first bytes. Default: 120 seconds;
    /// `None` (or zero) disables it.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        // Zero would tick constantly (and tokio refuses a zero period): it means "off".
        self.idle_timeout = timeout.into().filter(|d| !d.is_zero());
        self
    }

    /// How long the graceful close that the idle timeout starts may take before the
    /// connection is cut: responses still in flight get this long to finish. Without it, an
    /// HTTP/2 peer that grants no flow-control credit could hold a silent connection with
    /// responses that can never finish. Default: 30 seconds. (A close for shutdown is bounded
    /// by the shutdown's grace period instead.) Zero cuts the connection as soon as the idle
    /// timeout fires.
    pub fn idle_close_timeout(mut self, timeout: Duration) -> Self {
        self.idle_close_timeout = timeout;
        self
    }

    /// How long a write may wait without the peer accepting a single byte before the
    /// connection is cut. A client that stops reading (a TCP window of zero) otherwise holds
    /// the connection, and every response buffered for it, forever; the idle timeout does not
    /// help, since a graceful close waits for those responses. It applies to every write:
    /// responses, TLS records, and the bytes of a connection that switched protocols (a
    /// WebSocket). A slow client that still takes a byte now and then is not cut. Default:
    /// 30 seconds; `None` (or zero) disables it.
    pub fn write_stall_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.write_stall_timeout = timeout.into().filter(|d| !d.is_zero());
        self
    }

    /// The most connections served at once. Past it, the transport stops calling `accept`
    /// until one closes: new clients wait in the kernel's listen backlog (and get refused or
    /// time out once that is full) instead of being accepted and dropped. Default: 10,000;
    /// `None` means no limit.
    ///
    /// A connection that switched protocols (a WebSocket, after its `101`) belongs to its
    /// handler from then on: it no longer holds a slot and is not drained at shutdown.
    pub fn max_connections(mut self, max: impl Into<Option<usize>>) -> Self {
        self.max_connections = max
            .into()
            .map(|n| n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS));
        self
    }

    /// The most header fields in one HTTP/1 request. Default: 100.
    pub fn http1_max_headers(mut self, max: usize) -> Self {
        self.http1_max_headers = max;
        self
    }

    /// The most streams (requests) an HTTP/2 client may have open at once on one connection.
    /// Default: 128.
    pub fn http2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.http2_max_concurrent_streams = max;
        self
    }

    /// The largest header list a client may send: on HTTP/2, the sum of the sizes of a
    /// request's header fields as RFC 9113 counts them; on HTTP/1.1, the bytes of the
    /// request head (hyper's read buffer is capped at this, and at least 8 KiB), so a client
    /// cannot send larger headers over HTTP/1.1 than over HTTP/2. Default: 32 KiB.
    pub fn max_header_list_size(mut self, max: u32) -> Self {
        self.max_header_list_size = max;
        self
    }

    /// How many streams a client may reset before the server has accepted them, before the
    /// connection is closed with `ENHANCE_YOUR_CALM`: the limit against HTTP/2 Rapid Reset
    /// (CVE-2023-44487). Default: 20.
    pub fn http2_max_pending_accept_reset_streams(mut self, max: usize) -> Self {
        self.http2_max_pending_accept_reset_streams = max;
        self
    }

    /// How many streams the server may have to reset because of a client's protocol errors
    /// before the connection is closed: the limit against MadeYouReset (CVE-2025-8671).
    /// Default: 256.
    pub fn http2_max_local_error_reset_streams(mut self, max: usize) -> Self {
        self.http2_max_local_error_reset_streams = max;
        self
    }

    /// Whether HTTP/2 clients may open WebSockets (RFC 8441 extended CONNECT: the server
    /// sends `SETTINGS_ENABLE_CONNECT_PROTOCOL`), as `axum::serve` allows them. axum's
    /// `WebSocketUpgrade` serves them on a route that accepts `CONNECT` as well as `GET`:
    /// `.route("/ws", any(handler))`. Default: on.
    ///
    /// Browsers then open every `wss://` WebSocket to the origin on its HTTP/2 connection, and
    /// do not fall back to HTTP/1.1: a route written `get(handler)` answers them `405`
    /// (logged as a warning naming the path). Route it with `any`, or turn this off and
    /// browsers open their WebSockets over HTTP/1.1 as before.
    pub fn http2_websockets(mut self, enabled: bool) -> Self {
        self.http2_websockets = enabled;
        self
    }

    /// Whether each HTTP/2 stream runs in a tokio task of its own (hyper's way, as
    /// `axum::serve` and axum-server run them) instead of in its connection's task. Default:
    /// off. Twinport-quinn's `Http3Config::spawn_requests` is the same choice for HTTP/3.
    ///
    /// In the connection's task (as h2o and nginx run them), every response that is ready when
    /// the connection wakes leaves in one write and one TLS record, and no stream costs a spawn
    /// or a wake-up across tasks: see BENCHMARKS.md. The price: one connection's handlers
    /// share one thread at a time, so a handler that computes for long without an `.await`,
    /// or calls blocking code, holds back the other requests of its own connection. Other
    /// connections go on: before new streams run, the connection's task lets the runtime see
    /// it queued, so another thread takes the I/O (without that, and in hyper's way too when
    /// a stream task blocks at once, tokio can leave every connection's I/O waiting for the
    /// blocked thread). Move such work to `tokio::task::spawn_blocking`, or turn this on to
    /// spread one connection's streams over the runtime's threads. Either way a panic in a
    /// handler or a response body ends only its own stream.
    pub fn http2_spawn_streams(mut self, spawn: bool) -> Self {
        self.http2_spawn_streams = spawn;
        self
    }

    /// The longest a connection the server closes may linger: after the last response, the
    /// server shuts down its side and reads and discards what the client still sends until
    /// the client closes, so the kernel never resets the connection under a response the
    /// client has not read yet (a client's late WINDOW_UPDATE, the rest of an upload that
    /// got an early `413`). This bounds it in total. Default: 30 seconds; zero turns
    /// lingering off (the socket is closed at once, as hyper alone does).
    ///
    /// Every close the server chooses lingers: shutdown, the idle timeout, a response
    /// after which HTTP/1.1 cannot go on. A lingering connection still holds its slot of
    /// [`max_connections`](Self::max_connections) and is waited for by a graceful shutdown
    /// (within its grace period; the drain report counts those still lingering at its end).
    pub fn lingering_time(mut self, time: Duration) -> Self {
        self.linger.time = time;
        self
    }

    /// How long a lingering connection may stay silent before it is closed: a client that
    /// neither sends nor closes. Default: 5 seconds.
    pub fn lingering_timeout(mut self, timeout: Duration) -> Self {
        self.linger.timeout = timeout;
        self
    }

    /// The most bytes a lingering connection reads and discards before it is closed.
    /// Default: 16 MiB, more than a client's socket buffers hold in flight.
    pub fn lingering_max_bytes(mut self, max: u64) -> Self {
        self.linger.max_bytes = max;
        self
    }

    pub(crate) fn http1(&self) -> hyper::server::conn::http1::Builder {
        let mut b = hyper::server::conn::http1::Builder::new();
        // hyper's header read timeout does nothing without a timer.
        b.timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(self.http1_max_buf_size());
        if self.http1_max_headers != HYPER_MAX_HEADERS {
            b.max_headers(self.http1_max_headers);
        }
        b
    }

    /// hyper refuses a read buffer under 8 KiB.
    fn http1_max_buf_size(&self) -> usize {
        usize::try_from(self.max_header_list_size).map_or(usize::MAX, |n| n.max(8192))
    }

    /// hyper's HTTP/2 builder, spawning streams on `exec`.
    pub(crate) fn http2<E>(&self, exec: E) -> hyper::server::conn::http2::Builder<E> {
        let mut b = hyper::server::conn::http2::Builder::new(exec);
        if self.http2_websockets {
            b.enable_connect_protocol();
        }
        b.timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .max_header_list_size(self.max_header_list_size)
            .max_pending_accept_reset_streams(self.http2_max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.http2_max_local_error_reset_streams);
        b
    }

    /// hyper-util's HTTP/1.1-or-h2c builder, spawning HTTP/2 streams on `exec`.
    pub(crate) fn auto<E>(&self, exec: E) -> hyper_util::server::conn::auto::Builder<E> {
        let mut b = hyper_util::server::conn::auto::Builder::new(exec);
        b.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(self.http1_max_buf_size());
        if self.http1_max_headers != HYPER_MAX_HEADERS {
            b.http1().max_headers(self.http1_max_headers);
        }
        if self.http2_websockets {
            b.http2().enable_connect_protocol();
        }
        b.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.http2_max_concurrent_streams)
            .max_header_list_size(self.max_header_list_size)
            .max_pending_accept_reset_streams(self.http2_max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.http2_max_local_error_reset_streams);
        b
    }
}
