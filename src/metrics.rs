//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), named as
//! OpenTelemetry's semantic conventions name them, the same on HTTP/1.1, HTTP/2 and HTTP/3.
//!
//! twinport only emits; the application installs the recorder it wants before serving (the
//! Prometheus exporter, the OpenTelemetry bridge, ...). Without one, each emission costs an
//! atomic load. Names are dotted; the Prometheus exporter writes them with underscores and,
//! with its unit suffix on, the unit (`http_server_request_duration_seconds`).
//!
//! | name | kind | unit | labels |
//! | --- | --- | --- | --- |
//! | `http.server.request.duration` | histogram | seconds | `http.request.method`, `http.response.status_code`, `network.protocol.version`, `url.scheme`, `error.type` (5xx, or `cancelled`); `http.route` with [`RouteLabelLayer`] |
//! | `http.server.active_requests` | gauge | requests | `http.request.method`, `url.scheme` |
//! | `twinport.connection.accepted` | counter | connections | `network.transport` |
//! | `twinport.connection.active` | gauge | connections | `network.transport` |
//! | `twinport.connection.duration` | histogram | seconds | `network.transport` |
//! | `twinport.drain.cut` | counter | connections | `network.transport` |
//! | `twinport.drain.lingering` | counter | connections | `network.transport` |
//! | `twinport.handshake.duration` | histogram | seconds | `network.transport`, `tls.resumed` (`true`, `false`) |
//! | `twinport.handshake.failures` | counter | handshakes | `network.transport`, `error.type` (`timeout`, `tls`, `no_alpn`, `client_certificate`, `proxy_header`, `refused`, `io`) |
//! | `twinport.quic.rtt` | histogram | seconds | (at each QUIC connection's close: its smoothed RTT) |
//! | `twinport.quic.path_mtu` | histogram | bytes | (at close) |
//! | `twinport.quic.lost_packets`, `twinport.quic.lost_bytes`, `twinport.quic.congestion_events` | counter | packets, bytes, events | |
//! | `twinport.quic.datagrams`, `twinport.quic.bytes` | counter | datagrams, bytes | `network.io.direction` (`transmit`, `receive`) |
//! | `twinport.quic.path_challenges` | counter | frames | (paths the client validated: migrations) |
//! | `twinport.quic.closed` | counter | connections | `error.type`: the close's class (`local`, `idle_timeout`, `application`, `transport`, `protocol_violation`, `reset`) |
//! | `twinport.connection.refused` | counter | connections | `network.transport`, `error.type` |
//! | `twinport.connection.closed_by_server` | counter | connections | `network.transport`, `error.type` (`idle_timeout`, `write_stall`, an HTTP/3 code's name) |
//! | `twinport.stream.resets` | counter | streams | `network.transport`, `error.type` (the code's name) |
//! | `twinport.goaway.sent` | counter | frames | `network.transport` |
//! | `twinport.transport.responses` | counter | responses | `network.transport`, `http.response.status_code` |
//! | `twinport.quic.retries` | counter | packets | |
//!
//! `network.transport` is the transport's name: `tcp`, `unix` or `quic`. A request's duration
//! runs from the moment its head reached the service until the last byte of its response
//! body was handed to the transport (or the response was dropped). Methods other than the
//! nine of RFC 9110 and PATCH are `_OTHER`; no label ever holds a client address, a path or
//! another value a client chooses freely, so label sets stay bounded.

use std::sync::OnceLock;
use std::time::Instant;

use http::{Method, StatusCode, Version};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics::{Gauge, Histogram, Label, Unit};

use self::handles::Handles;

mod handles;
#[cfg(feature = "axum")]
mod route;
mod transport;

#[cfg(feature = "axum")]
pub use self::route::{RouteLabel, RouteLabelLayer};
pub(crate) use self::transport::{event, handshake_done, handshake_failed, quic_closed};

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
/// Connections the server closed for a reason of its own.
pub const CLOSED_BY_SERVER: &str = "twinport.connection.closed_by_server";
/// Streams the server reset, by error code.
pub const STREAM_RESETS: &str = "twinport.stream.resets";
/// GOAWAY frames sent.
pub const GOAWAYS: &str = "twinport.goaway.sent";
/// Responses the transport gave itself (431, 400, ...), by status.
pub const TRANSPORT_RESPONSES: &str = "twinport.transport.responses";

/// Describes every metric (unit and help text) to the installed recorder, once, when the
/// first server starts: after the application installed its recorder.
pub(crate) fn describe() {
    static DESCRIBED: OnceLock<()> = OnceLock::new();
    DESCRIBED.get_or_init(|| {
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
const DESCRIPTIONS: [(&str, Kind, Unit, &str); 24] = [
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
        QUIC_RETRIES,
        Kind::Counter,
        Unit::Count,
        "QUIC Retry packets sent.",
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

/// One request, from its head to the end of its response: counted active while it lives,
/// its duration recorded when it is dropped.
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    start: Instant,
    method: u8,
    version: u8,
    https: bool,
    status: Option<StatusCode>,
    route: Option<&'static str>,
}

impl RequestMetrics {
    pub(crate) fn start(method: &Method, version: Version, https: bool) -> Self {
        let this = Self {
            start: Instant::now(),
            method: method_index(method),
            version: version_index(version),
            https,
            status: None,
            route: None,
        };
        this.active(|g| g.increment(1.0));
        this
    }

    /// The response's status, once the service answered, and the route it matched when the
    /// app asked for `http.route` ([`RouteLabelLayer`] put it in the response's extensions).
    pub(crate) fn answered(&mut self, status: StatusCode, extensions: Option<&http::Extensions>) {
        self.status = Some(status);
        #[cfg(feature = "axum")]
        {
            self.route = extensions.and_then(route::matched);
        }
        #[cfg(not(feature = "axum"))]
        let _ = extensions;
    }

    fn active(&self, f: impl FnOnce(&Gauge)) {
        static ACTIVE: Handles<u32, Gauge> = Handles::new();
        let key = u32::from(self.method) << 1 | u32::from(self.https);
        ACTIVE.with(key, f, || {
            let labels = [
                ("http.request.method", METHODS[usize::from(self.method)]),
                ("url.scheme", scheme(self.https)),
            ];
            gauge!(ACTIVE_REQUESTS, &labels)
        });
    }
}

impl Drop for RequestMetrics {
    fn drop(&mut self) {
        static DURATION: Handles<(u32, Option<&'static str>), Histogram> = Handles::new();
        self.active(|g| g.decrement(1.0));
        let seconds = self.start.elapsed().as_secs_f64();
        let status = self.status.map_or(0, |s| s.as_u16());
        let key = u32::from(status) << 12
            | u32::from(self.version) << 8
            | u32::from(self.method) << 1
            | u32::from(self.https);
        DURATION.with(
            (key, self.route),
            |h| h.record(seconds),
            || {
                let mut labels = vec![
                    Label::from_static_parts(
                        "http.request.method",
                        METHODS[usize::from(self.method)],
                    ),
                    Label::from_static_parts(
                        "network.protocol.version",
                        VERSIONS[usize::from(self.version)],
                    ),
                    Label::from_static_parts("url.scheme", scheme(self.https)),
                ];
                match self.status {
                    Some(status) => {
                        let code = status.as_str().to_owned();
                        if status.is_server_error() {
                            labels.push(Label::new("error.type", code.clone()));
                        }
                        labels.push(Label::new("http.response.status_code", code));
                    }
                    None => labels.push(Label::from_static_parts("error.type", "cancelled")),
                }
                if let Some(route) = self.route {
                    labels.push(Label::from_static_parts("http.route", route));
                }
                histogram!(REQUEST_DURATION, labels)
            },
        );
    }
}

/// One connection, from its accept to its end: counted active while it lives.
#[derive(Debug)]
pub(crate) struct ConnectionMetrics {
    start: Instant,
    transport: &'static str,
}

impl ConnectionMetrics {
    pub(crate) fn accepted(transport: &'static str) -> Self {
        counter!(CONNECTIONS_ACCEPTED, "network.transport" => transport).increment(1);
        gauge!(CONNECTIONS_ACTIVE, "network.transport" => transport).increment(1.0);
        Self {
            start: Instant::now(),
            transport,
        }
    }
}

impl Drop for ConnectionMetrics {
    fn drop(&mut self) {
        gauge!(CONNECTIONS_ACTIVE, "network.transport" => self.transport).decrement(1.0);
        histogram!(CONNECTION_DURATION, "network.transport" => self.transport)
            .record(self.start.elapsed().as_secs_f64());
    }
}

/// A drain's figures, counted when the transport's drain ends.
pub(crate) fn drained(transport: &'static str, cut: usize, lingering: usize) {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    counter!(DRAIN_CUT, "network.transport" => transport).increment(count(cut));
    counter!(DRAIN_LINGERING, "network.transport" => transport).increment(count(lingering));
}

/// The methods OpenTelemetry labels by name (RFC 9110's and PATCH); anything else is
/// `_OTHER`, the last.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

const VERSIONS: [&str; 6] = ["0.9", "1.0", "1.1", "2", "3", "_OTHER"];

fn version_index(version: Version) -> u8 {
    match version {
        Version::HTTP_09 => 0,
        Version::HTTP_10 => 1,
        Version::HTTP_11 => 2,
        Version::HTTP_2 => 3,
        Version::HTTP_3 => 4,
        _ => 5,
    }
}

fn scheme(https: bool) -> &'static str {
    if https {
        "https"
    } else {
        "http"
    }
}

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
        let source = include_str!("metrics.rs");
        let declared = source.matches("pub const ").count() - 1; // this line's own
        assert_eq!(names.len(), declared, "a metric without a description");
    }

    #[test]
    fn odd_methods_and_versions_keep_label_sets_bounded() {
        assert_eq!(METHODS[usize::from(method_index(&Method::GET))], "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(METHODS[usize::from(method_index(&odd))], "_OTHER");
        assert_eq!(VERSIONS[usize::from(version_index(Version::HTTP_2))], "2");
    }
}
