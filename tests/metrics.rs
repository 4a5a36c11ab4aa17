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
use twinport_testkit::{empty, init_tracing, tls_connect, within, Hyper, Pki, H3};

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

fn rows(snapshotter: &Snapshotter) -> Vec<Row> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| (k, v))
        .collect()
}

/// Requests on one TCP + TLS connection speaking `alpn`: each path once, bodies read whole.
async fn over_tcp(addr: SocketAddr, h2: bool, paths: &[&str]) -> Vec<u16> {
    let alpn: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
    let tls = tls_connect(addr, &[alpn], None).await.unwrap();
    let (mut client, conn) = Hyper::handshake(tls, h2).await.unwrap();
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

    let app = Router::new().route("/", get(|| async { "hello" })).route(
        "/panic",
        get(|| async {
            if true {
                panic!("a bug in a handler");
            }
            "never"
        }),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = twinport::serve("127.0.0.1:0", app, Pki::get().server_tls())
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    let addr = serving.local_addr().unwrap();
    let task = tokio::spawn(serving.into_future());

    let h1 = over_tcp(addr, false, &["/", "/", "/", "/panic", "/nowhere"]).await;
    assert_eq!(h1, [200, 200, 200, 500, 404]);
    let h2 = over_tcp(addr, true, &["/", "/", "/panic"]).await;
    assert_eq!(h2, [200, 200, 500]);
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

    stop.send(()).unwrap();
    let report = within(task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);

    let rows = rows(&snapshotter);
    for (version, ok, failed) in [("1.1", 3, 1), ("2", 2, 1), ("3", 4, 1)] {
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
        }
    }
    // Connections by transport: two TCP (HTTP/1.1, HTTP/2), one QUIC; all closed.
    let tcp = [("network.transport", "tcp")];
    let quic = [("network.transport", "quic")];
    assert_eq!(counter(&rows, "twinport.connection.accepted", &tcp), 2);
    assert_eq!(counter(&rows, "twinport.connection.accepted", &quic), 1);
    assert_eq!(gauge_sum(&rows, "twinport.connection.active"), 0.0);
    assert_eq!(counter(&rows, "twinport.drain.cut", &tcp), 0);
}
