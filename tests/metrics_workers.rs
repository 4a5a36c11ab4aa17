#![allow(clippy::unwrap_used)]
//! What QUIC workers do with datagrams they do not keep, counted by the `metrics` feature
//! (`twinport.quic.worker.datagrams`, by worker and outcome; a `DebuggingRecorder` for this
//! test binary alone): datagrams naming another server are dropped and counted `foreign`; a
//! client moved to another port reaches its worker through the forwarder, counted
//! `forwarded`.

use std::net::UdpSocket;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use twinport::quic::{fleet::RoutableCids, quinn, Http3, Steering};
use twinport_testkit::clients::H3;
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{init_tracing, Pki};

/// `twinport.quic.worker.datagrams` summed by outcome.
fn by_outcome(snapshotter: &Snapshotter) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if key.kind() != MetricKind::Counter || key.key().name() != "twinport.quic.worker.datagrams"
        {
            continue;
        }
        let DebugValue::Counter(n) = value else {
            continue;
        };
        assert!(
            key.key()
                .labels()
                .any(|l| l.key() == "twinport.quic.worker"),
            "{key:?}"
        );
        let outcome = key
            .key()
            .labels()
            .find(|l| l.key() == "twinport.quic.outcome")
            .map_or(String::new(), |l| l.value().to_owned());
        *out.entry(outcome).or_default() += n;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_and_foreign_datagrams_are_counted() {
    init_tracing();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .server_id([9u8])
        .workers(4)
        .steering(Steering::Forwarder)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);

    // Two short-header packets naming server 8: dropped, unanswered, counted.
    let mut other = RoutableCids::new(0, &[8, 0], 8).unwrap();
    let cid = quinn::ConnectionIdGenerator::generate_cid(&mut other);
    let mut packet = vec![0x40];
    packet.extend_from_slice(&cid);
    packet.resize(60, 0);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.send_to(&packet, server.addr).unwrap();
    socket.send_to(&packet, server.addr).unwrap();

    // Clients that move to a new port: the kernel's hash sends most of them to another
    // worker, which hands their packets over.
    for _ in 0..20 {
        let mut h3 = H3::connect(server.addr, None).await.unwrap();
        assert_eq!(h3.get("/info").await.status, 200);
        h3.endpoint
            .rebind(UdpSocket::bind("127.0.0.1:0").unwrap())
            .unwrap();
        assert_eq!(h3.get("/info").await.status, 200);
        h3.close().await;
    }
    server.stop(Duration::from_secs(1)).await;

    // Counted as they arrive, before quinn sees them; one snapshot takes them all.
    let counted = by_outcome(&snapshotter);
    assert_eq!(counted.get("foreign"), Some(&2), "{counted:?}");
    assert!(
        counted.get("forwarded").copied().unwrap_or(0) > 0,
        "{counted:?}"
    );
    assert_eq!(counted.get("queue_full"), None, "{counted:?}");
}
