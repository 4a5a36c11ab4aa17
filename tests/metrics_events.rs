#![allow(clippy::unwrap_used)]
//! The transports' own decisions, counted by the `metrics` feature (a `DebuggingRecorder` for
//! this test binary alone): a 431 HTTP/3 answers by itself, a QUIC connection refused at the
//! connection limit, a TCP connection closed by the idle timeout, the GOAWAY of a drain, and
//! 0-RTT taken from aioquic resuming a session.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use twinport::quic::{Http3Config, QuicConfig};
use twinport::tcp::HttpConfig;
use twinport::{Http, Http3, Server, ServerHandle};
use twinport_testkit::clients::{empty, tls_connect, Hyper, Proto, H3};
use twinport_testkit::frames::h3_request_frame;
use twinport_testkit::peers::{peer_json, python};
use twinport_testkit::raw::{Ended, RawH3};
use twinport_testkit::{init_tracing, within, Pki};

/// A counter's value summed over the label sets that hold every `want` label.
fn counter(snapshotter: &Snapshotter, name: &str, want: &[(&str, &str)]) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, _, _, _)| k.kind() == MetricKind::Counter && k.key().name() == name)
        .filter(|(k, _, _, _)| {
            want.iter()
                .all(|(wk, wv)| k.key().labels().any(|l| l.key() == *wk && l.value() == *wv))
        })
        .map(|(_, _, _, v)| match v {
            DebugValue::Counter(c) => c,
            other => panic!("{other:?}"),
        })
        .sum()
}

/// A counter's values by one label's value, from one snapshot.
fn by_label(snapshotter: &Snapshotter, name: &str, label: &str) -> BTreeMap<String, u64> {
    let mut values = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if key.kind() != MetricKind::Counter || key.key().name() != name {
            continue;
        }
        let DebugValue::Counter(n) = value else {
            continue;
        };
        let by = key.key().labels().find(|l| l.key() == label);
        *values
            .entry(by.map_or(String::new(), |l| l.value().to_owned()))
            .or_default() += n;
    }
    values
}

/// Waits until the server holds no QUIC connection.
async fn quic_idle(handle: &ServerHandle) {
    for _ in 0..100 {
        if handle
            .connections()
            .iter()
            .all(|(name, n)| *name != "quic" || *n == 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("QUIC connections still open: {:?}", handle.connections());
}

#[tokio::test]
async fn the_transports_own_decisions_are_counted() {
    init_tracing();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    // Each counter is read once (a snapshot takes what it reports), in this order.
    let mut seen = Vec::new();

    let tls = Pki::get().server_tls();
    let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = tcp.local_addr().unwrap();
    let idle = HttpConfig::default().idle_timeout(Duration::from_millis(300));
    let http = Http::from_std(tcp).unwrap().config(idle).tls(&tls).unwrap();
    let h3 = Http3::builder(&tls)
        .http3()
        .quic_config(QuicConfig::default().max_connections(1))
        .http3_config(Http3Config::default().max_field_section_size(4096))
        .socket(udp)
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(Router::new().route("/", get(|| async { "hi" })))
        .transport(http)
        .transport(h3)
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .grace_period(Duration::from_secs(2));
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());

    // A header section over the limit: HTTP/3 answers 431 itself.
    let raw = RawH3::h3(addr).await;
    let big = vec![b'a'; 8192];
    match raw
        .request(&h3_request_frame("GET", "/", &[("x-big", &big)]))
        .await
    {
        Ended::Finished(bytes) => assert!(!bytes.is_empty()),
        other => panic!("{other:?}"),
    }
    raw.close().await;
    quic_idle(&handle).await;
    let answered = [
        ("network.transport", "quic"),
        ("http.response.status_code", "431"),
    ];
    seen.push((
        "431",
        counter(&snapshotter, "twinport.transport.responses", &answered),
    ));

    // One QUIC connection at a time: the second is refused at the limit.
    let mut first = H3::connect(addr, None).await.unwrap();
    assert_eq!(first.get("/").await.status, 200);
    assert!(H3::connect(addr, None).await.is_err(), "over the limit");
    let refused = [("network.transport", "quic"), ("error.type", "limit")];
    seen.push((
        "refused",
        counter(&snapshotter, "twinport.connection.refused", &refused),
    ));

    // A TCP connection left idle: the server closes it after 300 ms.
    let stream = tls_connect(addr, &[b"http/1.1"], None).await.unwrap();
    let (mut client, conn) = Hyper::handshake(stream, Proto::H1).await.unwrap();
    let res = within(client.send(client.request("GET", "/", empty())))
        .await
        .unwrap();
    within(res.into_body().collect()).await.unwrap();
    within(conn).await.unwrap();
    let idle = [("network.transport", "tcp"), ("error.type", "idle_timeout")];
    seen.push((
        "idle",
        counter(&snapshotter, "twinport.connection.closed_by_server", &idle),
    ));

    // Shutdown with an HTTP/3 client connected: a GOAWAY, then the connection closed.
    stop.send(()).unwrap();
    within(task).await.unwrap().unwrap();
    first.close().await;
    let goaway = [("network.transport", "quic")];
    seen.push((
        "goaway",
        counter(&snapshotter, "twinport.goaway.sent", &goaway),
    ));

    // 0-RTT: aioquic takes a session ticket on a first connection, then resumes with early
    // data on a second, which a server with early data on accepts.
    if let Some(python) = python("aioquic") {
        let tls = Pki::get().server_tls().early_data(true);
        let h3 = Http3::builder(&tls)
            .http3()
            .bind("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let port = h3.local_addr().port();
        let server = Server::new(Router::new().route("/", get(|| async { "hi" }))).transport(h3);
        let handle = server.handle();
        let task = tokio::spawn(server.into_future());
        let args = ["--zero-rtt", "--request", "GET", "/"];
        let out = peer_json(&python, "h3_client.py", port, &args).await;
        assert_eq!(out["early_data_accepted"], true, "{out}");
        handle.shutdown(Duration::from_secs(1));
        within(task).await.unwrap().unwrap();
        // One snapshot for both: a snapshot takes every counter's value.
        let zero_rtt = by_label(&snapshotter, "twinport.quic.zero_rtt", "accepted");
        seen.push(("0-RTT taken", zero_rtt.get("true").copied().unwrap_or(0)));
        seen.push(("0-RTT not", zero_rtt.get("false").copied().unwrap_or(0)));
    } else {
        seen.push(("0-RTT taken", 1));
        seen.push(("0-RTT not", 1));
    }

    assert_eq!(
        seen,
        [
            ("431", 1),
            ("refused", 1),
            ("idle", 1),
            ("goaway", 1),
            ("0-RTT taken", 1),
            ("0-RTT not", 1)
        ]
    );
}
