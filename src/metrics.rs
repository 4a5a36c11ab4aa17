//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`), named as
//! OpenTelemetry's semantic conventions name them, the same on HTTP/1.1, HTTP/2 and HTTP/3.
//!
//! twinport only emits; the application installs the recorder it wants before serving (the
//! Prometheus exporter, the OpenTelemetry bridge, ...). twinport looks for one when its first
//! server starts; without one, each emission costs an atomic load and nothing else. Names are
//! dotted; the Prometheus exporter writes them with underscores and, with its unit suffix on,
//! the unit (`http_server_request_duration_seconds`).
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
//! | `twinport.connection.bytes` | counter | bytes | `network.transport`, `network.io.direction` (on TCP: inside TLS) |
//! | `twinport.quic.zero_rtt` | counter | handshakes | `accepted` |
//!
//! `network.transport` is the transport's name: `tcp`, `unix` or `quic`. A request's duration
//! runs from the moment its head reached the service until the last byte of its response
//! body was handed to the transport (or the response was dropped). Methods other than the
//! nine of RFC 9110 and PATCH are `_OTHER`; no label ever holds a client address, a path or
//! another value a client chooses freely, so label sets stay bounded.

use std::time::Instant;

use http::{Method, StatusCode, Version};
use metrics::{counter, gauge, histogram};
use metrics::{Gauge, Histogram, Label};

use self::handles::Handles;

mod handles;
mod names;
#[cfg(feature = "axum")]
mod route;
mod transport;

pub use self::names::*;
pub(crate) use self::names::{describe, recording};
#[cfg(feature = "axum")]
pub use self::route::{RouteLabel, RouteLabelLayer};
pub(crate) use self::transport::{event, handshake_done, handshake_failed, quic_closed};

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
    pub(crate) fn start(method: &Method, version: Version, https: bool) -> Option<Self> {
        if !recording() {
            return None;
        }
        let this = Self {
            start: Instant::now(),
            method: method_index(method),
            version: version_index(version),
            https,
            status: None,
            route: None,
        };
        this.active(|g| g.increment(1.0));
        Some(this)
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
    pub(crate) fn accepted(transport: &'static str) -> Option<Self> {
        if !recording() {
            return None;
        }
        counter!(CONNECTIONS_ACCEPTED, "network.transport" => transport).increment(1);
        gauge!(CONNECTIONS_ACTIVE, "network.transport" => transport).increment(1.0);
        Some(Self {
            start: Instant::now(),
            transport,
        })
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
    if !recording() {
        return;
    }
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

    /// No recorder in this test binary: after the first server's `describe`, a request costs
    /// one atomic load and is not measured at all.
    #[test]
    fn without_a_recorder_nothing_is_measured() {
        describe();
        assert!(!recording());
        assert!(RequestMetrics::start(&Method::GET, Version::HTTP_2, true).is_none());
        assert!(ConnectionMetrics::accepted("tcp").is_none());
    }

    #[test]
    fn odd_methods_and_versions_keep_label_sets_bounded() {
        assert_eq!(METHODS[usize::from(method_index(&Method::GET))], "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(METHODS[usize::from(method_index(&odd))], "_OTHER");
        assert_eq!(VERSIONS[usize::from(version_index(Version::HTTP_2))], "2");
    }
}
