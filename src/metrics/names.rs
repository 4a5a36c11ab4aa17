//! The metrics' names, as OpenTelemetry's conventions spell them, and what each measures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// The request duration histogram.
pub const REQUEST_DURATION: &str = "http.server.request.duration";
/// Requests the service is working on, or whose response body is still being sent.
pub const ACTIVE_REQUESTS: &str = "http.server.active_requests";
/// Connections accepted, before any handshake.
pub const CONNECTIONS_ACCEPTED: &str = "twinport.connection.accepted";
/// Connections open now.
pub const CONNECTIONS_ACTIVE: &str = "twinport.connection.active";
/// How long connections stayed open.
pub const CONNECTION_DURATION: &str = "twinport.connection.duration";
/// Connections still serving at a drain's deadline, closed without waiting.
pub const DRAIN_CUT: &str = "twinport.drain.cut";
/// Connections still lingering at a drain's deadline.
pub const DRAIN_LINGERING: &str = "twinport.drain.lingering";
/// How long completed handshakes took.
pub const HANDSHAKE_DURATION: &str = "twinport.handshake.duration";
/// Handshakes that failed, by reason.
pub const HANDSHAKE_FAILURES: &str = "twinport.handshake.failures";
/// QUIC: the smoothed round-trip time at close.
pub const QUIC_RTT: &str = "twinport.quic.rtt";
/// QUIC: packets declared lost.
pub const QUIC_LOST_PACKETS: &str = "twinport.quic.lost_packets";
/// QUIC: bytes declared lost.
pub const QUIC_LOST_BYTES: &str = "twinport.quic.lost_bytes";
/// QUIC: congestion events.
pub const QUIC_CONGESTION_EVENTS: &str = "twinport.quic.congestion_events";
/// QUIC: the path MTU at close.
pub const QUIC_MTU: &str = "twinport.quic.path_mtu";
/// QUIC: UDP datagrams, by direction.
pub const QUIC_DATAGRAMS: &str = "twinport.quic.datagrams";
/// QUIC: UDP bytes, by direction.
pub const QUIC_BYTES: &str = "twinport.quic.bytes";
/// QUIC: PATH_CHALLENGE frames received (new paths validated: migrations).
pub const QUIC_PATH_CHALLENGES: &str = "twinport.quic.path_challenges";
/// QUIC: connections closed, by the class of their close reason.
pub const QUIC_CLOSED: &str = "twinport.quic.closed";
/// Connections refused before their handshake, by reason.
pub const REFUSED: &str = "twinport.connection.refused";
/// QUIC Retry packets sent.
pub const QUIC_RETRIES: &str = "twinport.quic.retries";
/// QUIC workers: datagrams forwarded to another worker or dropped, by worker and outcome.
pub const QUIC_WORKER_DATAGRAMS: &str = "twinport.quic.worker.datagrams";
/// Connections the server closed for a reason of its own.
pub const CLOSED_BY_SERVER: &str = "twinport.connection.closed_by_server";
/// Streams the server reset, by error code.
pub const STREAM_RESETS: &str = "twinport.stream.resets";
/// GOAWAY frames sent.
pub const GOAWAYS: &str = "twinport.goaway.sent";
/// Responses the transport gave itself (431, 400, ...), by status.
pub const TRANSPORT_RESPONSES: &str = "twinport.transport.responses";
/// Bytes connections carried, by direction.
pub const CONNECTION_BYTES: &str = "twinport.connection.bytes";
/// QUIC handshakes by whether 0-RTT was accepted.
pub const ZERO_RTT: &str = "twinport.quic.zero_rtt";

/// Whether a recorder was installed when the first server started: without one, each
/// emission costs this one atomic load and nothing else.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Whether to emit at all.
pub(crate) fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Describes every metric (unit and help text) to the installed recorder, once, when the
/// first server starts: after the application installed its recorder. The facade's stand-in
/// when none is installed is a zero-sized no-op, which is how one is told from a real one.
pub(crate) fn describe() {
    static DESCRIBED: OnceLock<()> = OnceLock::new();
    DESCRIBED.get_or_init(|| {
        let installed = metrics::with_recorder(|r| std::mem::size_of_val(r) > 0);
        RECORDING.store(installed, Ordering::Relaxed);
        for (name, kind, unit, help) in DESCRIPTIONS {
            match kind {
                Kind::Counter => describe_counter!(name, unit, help),
                Kind::Gauge => describe_gauge!(name, unit, help),
                Kind::Histogram => describe_histogram!(name, unit, help),
            }
        }
    });
}

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric's kind, unit and help text.
const DESCRIPTIONS: [(&str, Kind, Unit, &str); 27] = [
    (
        REQUEST_DURATION,
        Kind::Histogram,
        Unit::Seconds,
        "Duration of HTTP server requests.",
    ),
    (
        ACTIVE_REQUESTS,
        Kind::Gauge,
        Unit::Count,
        "Number of active HTTP server requests.",
    ),
    (
        CONNECTIONS_ACCEPTED,
        Kind::Counter,
        Unit::Count,
        "Connections accepted.",
    ),
    (
        CONNECTIONS_ACTIVE,
        Kind::Gauge,
        Unit::Count,
        "Connections open now.",
    ),
    (
        CONNECTION_DURATION,
        Kind::Histogram,
        Unit::Seconds,
        "How long connections stayed open.",
    ),
    (
        DRAIN_CUT,
        Kind::Counter,
        Unit::Count,
        "Connections closed at a drain's deadline while serving.",
    ),
    (
        DRAIN_LINGERING,
        Kind::Counter,
        Unit::Count,
        "Connections closed at a drain's deadline while lingering.",
    ),
    (
        HANDSHAKE_DURATION,
        Kind::Histogram,
        Unit::Seconds,
        "Completed handshakes.",
    ),
    (
        HANDSHAKE_FAILURES,
        Kind::Counter,
        Unit::Count,
        "Failed handshakes, by reason.",
    ),
    (
        QUIC_RTT,
        Kind::Histogram,
        Unit::Seconds,
        "QUIC smoothed RTT at close.",
    ),
    (
        QUIC_LOST_PACKETS,
        Kind::Counter,
        Unit::Count,
        "QUIC packets lost.",
    ),
    (
        QUIC_LOST_BYTES,
        Kind::Counter,
        Unit::Bytes,
        "QUIC bytes lost.",
    ),
    (
        QUIC_CONGESTION_EVENTS,
        Kind::Counter,
        Unit::Count,
        "QUIC congestion events.",
    ),
    (
        QUIC_MTU,
        Kind::Histogram,
        Unit::Bytes,
        "QUIC path MTU at close.",
    ),
    (
        QUIC_DATAGRAMS,
        Kind::Counter,
        Unit::Count,
        "QUIC UDP datagrams.",
    ),
    (QUIC_BYTES, Kind::Counter, Unit::Bytes, "QUIC UDP bytes."),
    (
        QUIC_PATH_CHALLENGES,
        Kind::Counter,
        Unit::Count,
        "QUIC paths validated.",
    ),
    (
        QUIC_CLOSED,
        Kind::Counter,
        Unit::Count,
        "QUIC connections closed, by reason.",
    ),
    (
        REFUSED,
        Kind::Counter,
        Unit::Count,
        "Connections refused before their handshake.",
    ),
    (
        CONNECTION_BYTES,
        Kind::Counter,
        Unit::Bytes,
        "Bytes connections carried.",
    ),
    (
        ZERO_RTT,
        Kind::Counter,
        Unit::Count,
        "QUIC handshakes, by 0-RTT accepted or not.",
    ),
    (
        QUIC_RETRIES,
        Kind::Counter,
        Unit::Count,
        "QUIC Retry packets sent.",
    ),
    (
        QUIC_WORKER_DATAGRAMS,
        Kind::Counter,
        Unit::Count,
        "Datagrams a QUIC worker forwarded to another or dropped.",
    ),
    (
        CLOSED_BY_SERVER,
        Kind::Counter,
        Unit::Count,
        "Connections closed by the server.",
    ),
    (
        STREAM_RESETS,
        Kind::Counter,
        Unit::Count,
        "Streams reset by the server.",
    ),
    (GOAWAYS, Kind::Counter, Unit::Count, "GOAWAY frames sent."),
    (
        TRANSPORT_RESPONSES,
        Kind::Counter,
        Unit::Count,
        "Responses the transport gave without the application.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_once() {
        let names: Vec<_> = DESCRIPTIONS.iter().map(|(name, ..)| *name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let source = include_str!("names.rs");
        let declared = source.matches("pub const ").count() - 1; // this line names it too
        assert_eq!(names.len(), declared, "a metric without a description");
    }
}
