#![allow(clippy::unwrap_used)]
//! The `metrics` feature, counted exactly: a `DebuggingRecorder` installed for this test
//! binary alone, requests over HTTP/1.1, HTTP/2 and HTTP/3 (answered, failed, panicking),
//! and what the recorder then holds per protocol, per status and per transport.

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use twinport_testkit::clients::{empty, tls_connect, Hyper, Proto, H3};
use twinport_testkit::{init_tracing, within, Pki};

type Row = (CompositeKey, DebugValue);

fn labels(key: &CompositeKey) -> Vec<(String, String)> {
    let mut labels: Vec<_> = key
        .key()
        .labels()
        .map(|l| (l.key().to_owned(), l.value().to_owned()))
        .collect();
    labels.sort();
    labels
}

fn has(key: &CompositeKey, want: &[(&str, &str)]) -> bool {
    let labels = labels(key);
    want.iter()
        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
}

/// How many durations were recorded for requests with these labels (all of them present).
fn durations(rows: &[Row], want: &[(&str, &str)]) -> usize {
    rows.iter()
        .filter(|(k, _)| {
            k.kind() == MetricKind::Histogram
                && k.key().name() == "http.server.request.duration"
                && has(k, want)
        })
        .map(|(_, v)| match v {
            DebugValue::Histogram(values) => values.len(),
            other => panic!("{other:?}"),
        })
        .sum()
}

fn gauge_sum(rows: &[Row], name: &str) -> f64 {
    rows.iter()
        .filter(|(k, _)| k.kind() == MetricKind::Gauge && k.key().name() == name)
        .map(|(_, v)| match v {
            DebugValue::Gauge(g) => g.into_inner(),
            other => panic!("{other:?}"),
        })
        .sum()
}

fn counter(rows: &[Row], name: &str, want: &[(&str, &str)]) -> u64 {
    rows.iter()
        .filter(|(k, _)| k.kind() == MetricKind::Counter && k.key().name() == name && has(k, want))
        .map(|(_, v)| match v {
            DebugValue::Counter(c) => *c,
            other => panic!("{other:?}"),
        })
        .sum()
}

/// Several snapshots as one. A snapshot takes what it reports (counters and gauges are
/// swapped to 0, histograms drained), so the polls' snapshots add up.
fn latest(snapshots: &[Row]) -> Vec<Row> {
    let mut merged: Vec<Row> = Vec::new();
    for (key, value) in snapshots {
        match (merged.iter_mut().find(|(k, _)| k == key), value) {
            (Some((_, DebugValue::Histogram(all))), DebugValue::Histogram(more)) => {
                all.extend(more.iter().copied())
            }
            (Some((_, DebugValue::Counter(all))), DebugValue::Counter(more)) => *all += more,
            (Some((_, DebugValue::Gauge(all))), DebugValue::Gauge(more)) => *all += *more,
            (_, value) => merged.push((key.clone(), copy(value))),
        }
    }
    merged
}

fn copy(value: &DebugValue) -> DebugValue {
    match value {
        DebugValue::Counter(c) => DebugValue::Counter(*c),
        DebugValue::Gauge(g) => DebugValue::Gauge(*g),
        DebugValue::Histogram(h) => DebugValue::Histogram(h.clone()),
    }
}

fn rows(snapshotter: &Snapshotter) -> Vec<Row> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| (k, v))
        .collect()
}

/// Requests on one TCP + TLS connection speaking `proto`: each path once, bodies read whole.
async fn over_tcp(addr: SocketAddr, proto: Proto, paths: &[&str]) -> Vec<u16> {
    let tls = tls_connect(addr, &[proto.alpn()], None).await.unwrap();
    let (mut client, conn) = Hyper::handshake(tls, proto).await.unwrap();
    let mut statuses = Vec::new();
    for path in paths {
        let res = within(client.send(client.request("GET", path, empty())))
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        within(res.into_body().collect()).await.unwrap();
    }
    drop(client);
    drop(conn);
    statuses
}

#[tokio::test]
async fn every_protocol_is_counted_once_by_status() {
    init_tracing();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let panics = || async {
        if true {
            panic!("a bug in a handler");
        }
        "never"
    };
    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/users/{id}", get(|| async { "a user" }))
        .route("/panic", get(panics))
        .route_layer(twinport::metrics::RouteLabelLayer);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = twinport::serve("127.0.0.1:0", app, Pki::get().server_tls())
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    let addr = serving.local_addr().unwrap();
    let task = tokio::spawn(serving.into_future());

    let h1 = over_tcp(addr, Proto::H1, &["/", "/", "/", "/panic", "/nowhere"]).await;
    assert_eq!(h1, [200, 200, 200, 500, 404]);
    let h2 = over_tcp(addr, Proto::H2, &["/", "/", "/panic", "/users/7"]).await;
    assert_eq!(h2, [200, 200, 500, 200]);
    let mut h3 = H3::connect(addr, None).await.unwrap();
    for (path, status) in [
        ("/", 200),
        ("/", 200),
        ("/", 200),
        ("/", 200),
        ("/panic", 500),
    ] {
        assert_eq!(h3.get(path).await.status, status);
    }
    h3.close().await;
    // Plain HTTP on the TLS port: a handshake that fails, counted by its reason.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = within(tcp.read_to_end(&mut rest)).await;
    }
    // The refusal is counted once the server's lingering close of it ends, just after.
    // (A snapshot drains the histograms: what the polls took is kept.)
    let failed = [("network.transport", "tcp"), ("error.type", "tls")];
    let mut polled = Vec::new();
    for _ in 0..100 {
        polled.extend(rows(&snapshotter));
        if counter(&latest(&polled), "twinport.handshake.failures", &failed) == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    stop.send(()).unwrap();
    let report = within(task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);

    polled.extend(rows(&snapshotter));
    let rows = latest(&polled);
    // http.route: the template the app's router matched, never the path.
    let users = [
        ("http.route", "/users/{id}"),
        ("network.protocol.version", "2"),
    ];
    assert_eq!(durations(&rows, &users), 1);
    assert_eq!(durations(&rows, &[("http.route", "/")]), 9);
    for (version, ok, failed) in [("1.1", 3, 1), ("2", 3, 1), ("3", 4, 1)] {
        let base = [
            ("network.protocol.version", version),
            ("http.request.method", "GET"),
            ("url.scheme", "https"),
        ];
        let with = |status: &'static str| {
            let mut want = base.to_vec();
            want.push(("http.response.status_code", status));
            want
        };
        assert_eq!(durations(&rows, &with("200")), ok, "HTTP/{version} 200s");
        let failures = durations(&rows, &with("500"));
        assert_eq!(failures, failed, "HTTP/{version} 500s (handler panics)");
        let mut typed = with("500");
        typed.push(("error.type", "500"));
        assert_eq!(durations(&rows, &typed), failed, "error.type on 500s");
    }
    assert_eq!(durations(&rows, &[("http.response.status_code", "404")]), 1);
    // Every request ended: none still active, and no label ever names a client.
    assert_eq!(gauge_sum(&rows, "http.server.active_requests"), 0.0);
    for (key, _) in &rows {
        for (k, v) in labels(key) {
            assert!(!v.contains("127.0.0.1"), "{k}={v} names an address");
            assert!(
                !v.contains("/users/7") && !v.contains("nowhere"),
                "{k}={v} names a path"
            );
        }
    }
    // Connections by transport: three TCP (HTTP/1.1, HTTP/2, the plaintext one), one QUIC;
    // all closed.
    let tcp = [("network.transport", "tcp")];
    let quic = [("network.transport", "quic")];
    assert_eq!(counter(&rows, "twinport.connection.accepted", &quic), 1);
    assert_eq!(gauge_sum(&rows, "twinport.connection.active"), 0.0);
    assert_eq!(counter(&rows, "twinport.drain.cut", &tcp), 0);
    // Handshakes: the three that completed timed, the plaintext one counted as a TLS failure.
    assert_eq!(
        histogram_count(&rows, "twinport.handshake.duration", &tcp),
        2
    );
    assert_eq!(
        histogram_count(&rows, "twinport.handshake.duration", &quic),
        1
    );
    assert_eq!(counter(&rows, "twinport.handshake.failures", &failed), 1);
    assert_eq!(
        counter(&rows, "twinport.connection.accepted", &tcp),
        3,
        "the failed one too"
    );
    // QUIC's figures at close: one connection (ended by the server once the client's GOAWAY
    // and close came: `local`), with traffic both ways.
    assert_eq!(counter(&rows, "twinport.quic.closed", &[]), 1);
    for direction in ["transmit", "receive"] {
        let way = [("network.io.direction", direction)];
        assert!(
            counter(&rows, "twinport.quic.datagrams", &way) > 0,
            "{direction}"
        );
        assert!(
            counter(&rows, "twinport.quic.bytes", &way) > 1000,
            "{direction}"
        );
    }
    assert_eq!(histogram_count(&rows, "twinport.quic.rtt", &[]), 1);
    // TCP's bytes (inside TLS): every request and response line counted, both ways.
    for (direction, at_least) in [("receive", 8 * 16), ("transmit", 8 * 40)] {
        let way = [
            ("network.transport", "tcp"),
            ("network.io.direction", direction),
        ];
        let bytes = counter(&rows, "twinport.connection.bytes", &way);
        assert!(bytes >= at_least, "{direction}: {bytes}");
    }
}

fn histogram_count(rows: &[Row], name: &str, want: &[(&str, &str)]) -> usize {
    rows.iter()
        .filter(|(k, _)| {
            k.kind() == MetricKind::Histogram && k.key().name() == name && has(k, want)
        })
        .map(|(_, v)| match v {
            DebugValue::Histogram(values) => values.len(),
            other => panic!("{other:?}"),
        })
        .sum()
}
