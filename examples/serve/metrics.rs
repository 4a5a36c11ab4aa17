//! `--metrics HOST:PORT`: twinport's metrics (feature `metrics`) on a Prometheus scrape
//! endpoint of their own, `http://HOST:PORT/metrics`, never on the public port.

use std::net::SocketAddr;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

/// OpenTelemetry's advised boundaries for `http.server.request.duration`, in seconds; the
/// connection durations get them too.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Installs the Prometheus recorder and its HTTP listener on `addr`. Call it from within the
/// runtime, before serving, so that every metric reaches it.
pub fn install(addr: SocketAddr) -> Result<(), BuildError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        // Units and `_total` as Prometheus names them: `http_server_request_duration_seconds`.
        .with_recommended_naming(true)
        .set_buckets_for_metric(Matcher::Suffix("duration".into()), &DURATION_BUCKETS)?
        .install()
}
