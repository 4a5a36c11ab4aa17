//! What a transport reports for the `metrics` feature beyond connections and requests, which
//! the lifecycle and the request guard measure themselves: handshakes and their failures,
//! and a QUIC connection's figures when it closes. Without the feature, these do nothing.

use std::time::{Duration, Instant};

use super::measure;

/// Why a handshake failed, as the `error.type` of `twinport.handshake.failures`: a bounded
/// set, taken from the transports' own errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// It did not complete in time.
    Timeout,
    /// TLS failed: an alert either way, or bytes that are not TLS.
    Tls,
    /// The client offered no protocol the server serves.
    NoAlpn,
    /// The client's certificate was refused, or could not be read.
    ClientCertificate,
    /// The PROXY protocol header was missing or invalid.
    ProxyHeader,
    /// Refused by a limit or an acceptor of the application's.
    Refused,
    /// The connection broke (reset, closed) before the handshake ended.
    Io,
}

impl HandshakeFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::NoAlpn => "no_alpn",
            Self::ClientCertificate => "client_certificate",
            Self::ProxyHeader => "proxy_header",
            Self::Refused => "refused",
            Self::Io => "io",
        }
    }
}

/// One connection's handshake (the whole acceptor chain on TCP: PROXY header, TLS, your own
/// steps), timed from [`start`](Self::start) and reported once as done or failed.
#[derive(Debug)]
pub struct Handshake {
    transport: &'static str,
    start: Instant,
}

impl Handshake {
    /// A handshake on `transport` (`tcp`, `unix`, `quic`) starts now.
    pub fn start(transport: &'static str) -> Self {
        Self {
            transport,
            start: Instant::now(),
        }
    }

    /// It completed; `resumed` when the client resumed an earlier session (and so could send
    /// early data).
    pub fn done(self, resumed: bool) {
        measure::handshake_done(self.transport, self.start.elapsed(), resumed);
    }

    /// It failed.
    pub fn failed(self, why: HandshakeFailure) {
        measure::handshake_failed(self.transport, why.as_str());
    }
}

/// A QUIC connection's figures at its close, from the QUIC stack's statistics.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct QuicClose {
    /// The smoothed round-trip time at the end.
    pub rtt: Duration,
    /// Packets and bytes declared lost.
    pub lost_packets: u64,
    /// Bytes declared lost.
    pub lost_bytes: u64,
    /// Congestion events.
    pub congestion_events: u64,
    /// The path MTU at the end.
    pub mtu: u16,
    /// UDP datagrams sent.
    pub sent_datagrams: u64,
    /// UDP bytes sent.
    pub sent_bytes: u64,
    /// UDP datagrams received.
    pub received_datagrams: u64,
    /// UDP bytes received.
    pub received_bytes: u64,
    /// PATH_CHALLENGE frames received: the client validating a new path, as when it moves.
    pub path_challenges: u64,
    /// Why it closed, as a class: `idle_timeout`, `application`, `transport`, `local`,
    /// `reset`, ...
    pub reason: &'static str,
}

impl QuicClose {
    /// Records the figures `read` gathers; `read` runs only when metrics are recorded (never
    /// without the `metrics` feature or an installed recorder).
    pub fn record(read: impl FnOnce() -> Self) {
        measure::quic_closed(read);
    }
}

/// A decision of the transport's own, counted by the `metrics` feature: what it refused,
/// reset, answered or cut without the application. Every value is one of a bounded set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection refused before its handshake (`reason`: `limit`, ...):
    /// `twinport.connection.refused`.
    Refused {
        /// The transport: `tcp`, `unix`, `quic`.
        transport: &'static str,
        /// Why, as a short label value.
        reason: &'static str,
    },
    /// A QUIC Retry sent to validate a client's address: `twinport.quic.retries`.
    Retry,
    /// A connection closed by the server for a reason of its own (`reason`: `idle_timeout`,
    /// `write_stall`, or an HTTP/3 error code's name): `twinport.connection.closed_by_server`.
    Closed {
        /// The transport.
        transport: &'static str,
        /// Why, as a short label value.
        reason: &'static str,
    },
    /// A stream reset by the server (`code`: the error code's name):
    /// `twinport.stream.resets`.
    StreamReset {
        /// The transport.
        transport: &'static str,
        /// The error code's name, such as `H3_REQUEST_CANCELLED`.
        code: &'static str,
    },
    /// A GOAWAY sent: `twinport.goaway.sent`.
    GoAway {
        /// The transport.
        transport: &'static str,
    },
    /// The bytes a connection carried, counted when it ends (on TCP, what the application
    /// protocol read and wrote, inside TLS): `twinport.connection.bytes`.
    Transferred {
        /// The transport.
        transport: &'static str,
        /// Bytes read from the client.
        received: u64,
        /// Bytes written to the client.
        sent: u64,
    },
    /// Whether a QUIC connection's early data (0-RTT) was accepted: `twinport.quic.zero_rtt`.
    ZeroRtt {
        /// True when the client sent 0-RTT and the server took it.
        accepted: bool,
    },
    /// A datagram a QUIC worker did not keep (`outcome`: `forwarded`, handed to the worker
    /// whose connection it names; `queue_full`, lost because that worker's queue was full;
    /// `foreign`, naming another server or not QUIC, dropped unanswered):
    /// `twinport.quic.worker.datagrams`.
    WorkerDatagram {
        /// The worker that received it.
        worker: u8,
        /// What became of it, as a short label value.
        outcome: &'static str,
    },
    /// A response the transport gave itself, without calling the application (such as a
    /// `431` or a `400`): `twinport.transport.responses`.
    Answered {
        /// The transport.
        transport: &'static str,
        /// The status code.
        status: http::StatusCode,
    },
}

impl Event {
    /// Counts it (a no-op without the `metrics` feature).
    pub fn record(self) {
        measure::event(self);
    }
}
