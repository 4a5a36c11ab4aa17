//! Settings: [`QuicConfig`] for the QUIC transport, [`Http3Config`] for HTTP/3.
//!
//! Every default is chosen to be safe for a server on the open internet; change what your
//! deployment needs.
//!
//! ```
//! use std::time::Duration;
//! use twinport_quinn::{AddressValidation, Http3Config, QuicConfig};
//!
//! let quic = QuicConfig::default()
//!     .idle_timeout(Duration::from_secs(60))
//!     .keep_alive(Some(Duration::from_secs(15)))
//!     .address_validation(AddressValidation::Always);
//! let http3 = Http3Config::default().max_field_section_size(16 * 1024);
//! # let _ = (quic, http3);
//! ```

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, TransportConfig, VarInt};

use crate::error::Error;

/// Bytes of QUIC datagrams buffered each way per connection.
const DATAGRAM_BUFFER: usize = 1024 * 1024;

/// When the server makes clients prove their address with a Retry round trip before it
/// spends work on their handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressValidation {
    /// Every new connection is sent a Retry first (one more round trip, no amplification or
    /// spoofed-address handshakes at all).
    Always,
    /// Only while more than this many handshakes are in progress (the default, with 256).
    UnderLoad {
        /// The number of concurrent handshakes above which Retry is used.
        pending_handshakes: usize,
    },
}

impl Default for AddressValidation {
    fn default() -> Self {
        Self::UnderLoad {
            pending_handshakes: 256,
        }
    }
}

/// Transport settings of the QUIC endpoint.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct QuicConfig {
    pub(crate) idle_timeout: Duration,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_bidi_streams: u32,
    pub(crate) max_uni_streams: u32,
    pub(crate) stream_receive_window: u32,
    pub(crate) receive_window: u64,
    pub(crate) send_window: u64,
    pub(crate) max_incoming: usize,
    pub(crate) max_connections: Option<usize>,
    pub(crate) address_validation: AddressValidation,
    pub(crate) migration: bool,
}

impl Default for QuicConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: None,
            handshake_timeout: Duration::from_secs(10),
            max_bidi_streams: 100,
            max_uni_streams: 16,
            stream_receive_window: 1024 * 1024,
            receive_window: 8 * 1024 * 1024,
            send_window: 8 * 1024 * 1024,
            max_incoming: 4096,
            max_connections: Some(10_000),
            address_validation: AddressValidation::default(),
            migration: true,
        }
    }
}

impl QuicConfig {
    /// Closes a connection after this long without any packet from the peer (default 30 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sends keep-alive packets this often, so idle connections survive NAT timeouts
    /// (default: none, the client's job).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Gives up on a handshake that takes longer than this (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many bidirectional streams a client may have open at once on one connection
    /// (default 100). For HTTP/3 this bounds the number of concurrent requests together with
    /// [`Http3Config::max_concurrent_requests`]: HTTP/3 connections use the smaller of the two.
    pub fn max_concurrent_bidi_streams(mut self, n: u32) -> Self {
        self.max_bidi_streams = n;
        self
    }

    /// How many unidirectional streams a client may have open at once (default 16; HTTP/3
    /// needs 3).
    pub fn max_concurrent_uni_streams(mut self, n: u32) -> Self {
        self.max_uni_streams = n;
        self
    }

    /// How many bytes a client may send on one stream ahead of the server reading them
    /// (default 1 MiB).
    pub fn stream_receive_window(mut self, bytes: u32) -> Self {
        self.stream_receive_window = bytes;
        self
    }

    /// How many bytes a client may send on all streams of a connection ahead of the server
    /// reading them (default 8 MiB).
    pub fn receive_window(mut self, bytes: u64) -> Self {
        self.receive_window = bytes;
        self
    }

    /// How many bytes the server buffers for sending per connection (default 8 MiB).
    pub fn send_window(mut self, bytes: u64) -> Self {
        self.send_window = bytes;
        self
    }

    /// How many connection attempts may wait to be accepted before new ones are refused
    /// (default 4096).
    pub fn max_incoming(mut self, n: usize) -> Self {
        self.max_incoming = n;
        self
    }

    /// How many connections (handshaking or established) may be open at once (default 10,000,
    /// as for TCP; `None`: no limit). Connection attempts beyond it are refused.
    pub fn max_connections(mut self, max: impl Into<Option<usize>>) -> Self {
        self.max_connections = max.into();
        self
    }

    /// When clients must prove their address with a Retry (default: under load).
    pub fn address_validation(mut self, mode: AddressValidation) -> Self {
        self.address_validation = mode;
        self
    }

    /// Whether clients may change address mid-connection (default true).
    pub fn migration(mut self, allowed: bool) -> Self {
        self.migration = allowed;
        self
    }

    pub(crate) fn transport(&self) -> Result<Arc<TransportConfig>, Error> {
        let mut t = TransportConfig::default();
        let idle =
            IdleTimeout::try_from(self.idle_timeout).map_err(|source| Error::OutOfRange {
                name: "idle_timeout",
                source,
            })?;
        let receive_window =
            VarInt::from_u64(self.receive_window).map_err(|source| Error::OutOfRange {
                name: "receive_window",
                source,
            })?;
        if self.max_uni_streams < 3 {
            return Err(Error::Config {
                name: "max_concurrent_uni_streams",
                reason: "HTTP/3 needs at least 3 (control and QPACK streams)".into(),
            });
        }
        t.max_idle_timeout(Some(idle))
            .keep_alive_interval(self.keep_alive)
            .max_concurrent_bidi_streams(self.max_bidi_streams.into())
            .max_concurrent_uni_streams(self.max_uni_streams.into())
            .stream_receive_window(self.stream_receive_window.into())
            .receive_window(receive_window)
            .send_window(self.send_window)
            // QUIC datagrams (RFC 9221) carry WebTransport datagrams; quinn's defaults, set
            // explicitly because HTTP/3 datagrams depend on them.
            .datagram_receive_buffer_size(Some(DATAGRAM_BUFFER))
            .datagram_send_buffer_size(DATAGRAM_BUFFER);
        Ok(Arc::new(t))
    }

    pub(crate) fn server(
        &self,
        crypto: crate::tls::ServerCrypto,
    ) -> Result<quinn::ServerConfig, Error> {
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server
            .transport_config(self.transport()?)
            .max_incoming(self.max_incoming)
            .migration(self.migration);
        Ok(server)
    }
}

/// HTTP/3 settings.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct Http3Config {
    pub(crate) max_field_section_size: u64,
    pub(crate) send_grease: bool,
    pub(crate) max_concurrent_requests: u32,
    pub(crate) request_header_timeout: Duration,
    pub(crate) write_stall_timeout: Option<Duration>,
    pub(crate) max_webtransport_sessions: u32,
    pub(crate) max_webtransport_streams: u32,
    pub(crate) max_settings_size: u64,
    pub(crate) control_frame_rate: u32,
    pub(crate) stream_churn_rate: u32,
    pub(crate) body_idle_timeout: Option<Duration>,
    pub(crate) settings_timeout: Option<Duration>,
    pub(crate) spawn_requests: bool,
    #[cfg(feature = "websocket")]
    pub(crate) websockets: bool,
}

impl Default for Http3Config {
    fn default() -> Self {
        Self {
            max_field_section_size: 64 * 1024,
            send_grease: false,
            max_concurrent_requests: 100,
            request_header_timeout: Duration::from_secs(10),
            write_stall_timeout: Some(Duration::from_secs(30)),
            max_webtransport_sessions: 16,
            max_webtransport_streams: 64,
            max_settings_size: 4 * 1024,
            control_frame_rate: 100,
            stream_churn_rate: 200,
            body_idle_timeout: Some(Duration::from_secs(30)),
            settings_timeout: Some(Duration::from_secs(10)),
            spawn_requests: false,
            #[cfg(feature = "websocket")]
            websockets: true,
        }
    }
}

impl Http3Config {
    /// The largest request header section accepted, in bytes as RFC 9114 §4.2.2 counts them
    /// (default 64 KiB), announced in SETTINGS_MAX_FIELD_SECTION_SIZE. Larger ones get 431;
    /// a HEADERS frame that declares more than this is refused before any of it is buffered.
    pub fn max_field_section_size(mut self, bytes: u64) -> Self {
        self.max_field_section_size = bytes;
        self
    }

    /// Sends reserved "GREASE" settings, frames and streams (default off: some peers choke on
    /// them).
    pub fn send_grease(mut self, enabled: bool) -> Self {
        self.send_grease = enabled;
        self
    }

    /// How many requests one connection may have in flight at once (default 100). The
    /// smaller of this and [`QuicConfig::max_concurrent_bidi_streams`] applies: a lower QUIC
    /// stream limit is never raised by this one.
    pub fn max_concurrent_requests(mut self, n: u32) -> Self {
        self.max_concurrent_requests = n;
        self
    }

    /// Whether each request stream runs in a tokio task of its own instead of in its
    /// connection's task. Default: off. Twinport-hyper's `HttpConfig::http2_spawn_streams` is
    /// the same choice for HTTP/2.
    ///
    /// In the connection's task, a request costs no spawn and no wake-up across tasks, and the
    /// responses that become ready together leave in the same packets (see BENCHMARKS.md). The
    /// price: one connection's handlers share one thread at a time, so a handler that computes
    /// for long without an `.await`, or calls blocking code, holds back the other requests of
    /// its own connection (other connections go on). Move such work to
    /// `tokio::task::spawn_blocking`, or turn this on to spread one connection's requests over
    /// the runtime's threads. Either way a panic in a handler or a response body ends only its
    /// own request.
    pub fn spawn_requests(mut self, spawn: bool) -> Self {
        self.spawn_requests = spawn;
        self
    }

    /// How long a client has to send a request's headers once it opened the stream
    /// (default 10 s).
    pub fn request_header_timeout(mut self, timeout: Duration) -> Self {
        self.request_header_timeout = timeout;
        self
    }

    /// How long a response may wait without the client taking a byte of it (no stream or
    /// connection flow-control credit, or no acknowledgements, so quinn's send buffer stays
    /// full) before its stream is reset with `H3_REQUEST_CANCELLED` and its body dropped.
    /// Without it, a client that stops reading but keeps the connection alive holds every
    /// response buffered for it forever. The connection itself goes on; its idle timeout
    /// ([`QuicConfig::idle_timeout`]) ends it if the client falls silent. Default: 30 seconds;
    /// `None` (or zero) disables it. WebTransport streams belong to their handler, which
    /// bounds its own writes.
    pub fn write_stall_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.write_stall_timeout = timeout.into().filter(|d| !d.is_zero());
        self
    }

    /// How many WebTransport sessions one connection may have open at once (default 16);
    /// announced to clients in SETTINGS. A CONNECT beyond it gets `429 Too Many Requests`.
    /// Only used when a WebTransport handler is registered.
    pub fn max_webtransport_sessions(mut self, n: u32) -> Self {
        self.max_webtransport_sessions = n;
        self
    }

    /// How many streams the client may have open at once in one WebTransport session
    /// (default 64); streams above it are refused with `WEBTRANSPORT_BUFFERED_STREAM_REJECTED`.
    /// The QUIC stream limits of [`QuicConfig`] bound all sessions of a connection together.
    pub fn max_webtransport_streams(mut self, n: u32) -> Self {
        self.max_webtransport_streams = n;
        self
    }

    /// The largest SETTINGS frame accepted from a client, in bytes (default 4 KiB). One that
    /// declares more ends the connection with `H3_FRAME_ERROR` before any of it is buffered.
    /// Every other frame but DATA has a bound too: HEADERS
    /// [`max_field_section_size`](Self::max_field_section_size), GOAWAY and the push frames
    /// one varint; unknown and reserved frames are skipped as they stream in.
    pub fn max_settings_size(mut self, bytes: u64) -> Self {
        self.max_settings_size = bytes;
        self
    }

    /// How many frames a second a client may send on its control stream, in bursts of as
    /// many (default 100; a well-behaved client sends a handful per connection). Each
    /// 256 bytes of frames the server skips (unknown or reserved types) count as one; the
    /// QPACK encoder and decoder streams have the same limit, in 256-byte units (with no
    /// dynamic table there is next to nothing to say on them). A flood ends that client's
    /// connection with `H3_EXCESSIVE_LOAD`; 0 disables the limit.
    pub fn control_frame_rate(mut self, per_second: u32) -> Self {
        self.control_frame_rate = per_second;
        self
    }

    /// How many streams a second a client may open and drop without a request served, in
    /// bursts of as many (default 200): requests it cancels (STOP_SENDING or a reset), request
    /// streams that end, break or time out before their headers, unknown unidirectional
    /// streams. Beyond it (a "rapid reset" flood), its connection is closed with
    /// `H3_EXCESSIVE_LOAD`; 0 disables the limit.
    pub fn stream_churn_rate(mut self, per_second: u32) -> Self {
        self.stream_churn_rate = per_second;
        self
    }

    /// How long a handler waiting on a request body waits for the client to send the next
    /// bytes (default 30 s). Then the stream is stopped with `H3_REQUEST_INCOMPLETE` and the
    /// body yields [`BodyError::TimedOut`](crate::BodyError::TimedOut). A handler that does
    /// not read is not timed: QUIC flow control holds the client back meanwhile. `None` (or
    /// zero) disables it.
    pub fn body_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.body_idle_timeout = timeout.into().filter(|d| !d.is_zero());
        self
    }

    /// How long a client has, once its handshake is done, to open its control stream and
    /// send its SETTINGS (default 10 s; RFC 9114 §6.2.1 requires both first thing). A client
    /// that has not is closed with `H3_MISSING_SETTINGS` (logged at debug level as "no
    /// SETTINGS from the client in time"), rather than holding its connection until the idle
    /// timeout. `None` (or zero) disables it.
    pub fn settings_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.settings_timeout = timeout.into().filter(|d| !d.is_zero());
        self
    }

    /// WebSockets over HTTP/3 (RFC 9220; default on): the server's SETTINGS say
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, and an extended CONNECT with `:protocol
    /// websocket` reaches the app's WebSocket route with what `hyper::upgrade::on` needs, so
    /// axum's `WebSocketUpgrade` accepts it as it accepts HTTP/2's. As over HTTP/2, the
    /// WebSocket opens with `CONNECT`: a route written `get(handler)` answers `405` (logged as
    /// a warning naming the path); route it with `any`. Turned off, the setting is not sent
    /// (unless a WebTransport handler needs it) and such a CONNECT is a malformed request
    /// (`400`, then H3_MESSAGE_ERROR), so clients open their WebSockets over HTTP/1.1 or
    /// HTTP/2. With the setting sent, a CONNECT for a protocol not served gets `501`.
    ///
    /// The tunnel buffers at most 32 KiB each way (QUIC flow control holds a client back
    /// while the handler does not read); a client that takes nothing of what the handler
    /// sends meets [`write_stall_timeout`](Self::write_stall_timeout). A quiet WebSocket has
    /// no idle timeout of its own, as over HTTP/1.1 and HTTP/2: the connection's
    /// ([`QuicConfig::idle_timeout`]) ends it when the client is gone.
    #[cfg(feature = "websocket")]
    #[cfg_attr(docsrs, doc(cfg(feature = "websocket")))]
    pub fn websockets(mut self, enabled: bool) -> Self {
        self.websockets = enabled;
        self
    }

    /// Whether SETTINGS announce extended CONNECT for WebSockets.
    pub(crate) fn serves_websockets(&self) -> bool {
        #[cfg(feature = "websocket")]
        return self.websockets;
        #[cfg(not(feature = "websocket"))]
        false
    }
}
