//! QUIC workers on one port: several `SO_REUSEPORT` sockets, each with its own quinn
//! endpoint. A client that changes port, then address, keeps its connection whichever worker
//! its packets reach, with the kernel's steering and with the forwarder; connections spread
//! over the workers; configuration mistakes are refused at start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::net::{SocketAddr, UdpSocket};

use h3_kit::*;
use http::StatusCode;
use twinport_quinn::{Error, Http3, Steering, WorkerSnapshot};
use twinport_testkit::clients::H3;
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki};

const WORKERS: usize = 4;

/// `trials` connections, each asked a request from its first port, from a new port, then
/// from another loopback address: every request must be answered on the one connection.
async fn rebinding_clients(steering: Steering, trials: usize) -> Vec<WorkerSnapshot> {
    init_tracing();
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .workers(WORKERS)
        .steering(steering)
        .bind(localhost())
        .unwrap();
    assert_eq!(endpoint.workers(), WORKERS);
    let stats = endpoint.worker_stats();
    let server = serve_http3(endpoint);
    for trial in 0..trials {
        let mut h3 = bounded(10, "connect", H3::connect(server.addr, None))
            .await
            .unwrap();
        eprintln!("trial {trial}");
        let first = h3.get("/info").await;
        assert_eq!(first.status, StatusCode::OK);
        for (step, local) in [
            ("a new port", "127.0.0.1:0"),
            ("a new address", "127.0.0.2:0"),
        ] {
            h3.endpoint.rebind(UdpSocket::bind(local).unwrap()).unwrap();
            let req = http::Request::get(twinport_testkit::clients::uri("/info"))
                .body(())
                .unwrap();
            let reply = match bounded(10, step, h3.send(req, Default::default(), None)).await {
                Ok(reply) => reply,
                Err(e) => panic!(
                    "trial {trial}, after {step}: {e}; the connection: {:?}",
                    h3.conn.close_reason()
                ),
            };
            assert_eq!(reply.status, StatusCode::OK, "trial {trial}, after {step}");
            let seen: SocketAddr = reply.json()["remote"].as_str().unwrap().parse().unwrap();
            assert_eq!(seen, h3.endpoint.local_addr().unwrap(), "trial {trial}");
        }
        h3.close().await;
    }
    server.stop(std::time::Duration::from_secs(1)).await;
    stats.snapshot()
}

/// Connections per worker within ±25% of the mean (the kernel places each new connection by
/// a hash, so this needs enough of them: with 1000 over 4 workers, 25% is 4.5 standard
/// deviations).
fn assert_spread(stats: &[WorkerSnapshot]) {
    let total: u64 = stats.iter().map(|s| s.connections).sum();
    let mean = total as f64 / stats.len() as f64;
    for (worker, s) in stats.iter().enumerate() {
        let off = (s.connections as f64 - mean).abs() / mean;
        assert!(
            off <= 0.25,
            "worker {worker}: {s:?}, mean {mean}: {stats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_clients_keep_their_connection_with_kernel_steering() {
    let stats = rebinding_clients(Steering::Kernel, 200).await;
    let received: u64 = stats.iter().map(|s| s.received).sum();
    let forwarded: u64 = stats.iter().map(|s| s.forwarded).sum();
    assert!(
        forwarded * 100 < received,
        "{forwarded} of {received} datagrams forwarded with kernel steering: {stats:?}"
    );
    assert!(
        stats.iter().all(|s| s.foreign == 0 && s.queue_full == 0),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebinding_clients_keep_their_connection_with_the_forwarder() {
    let stats = rebinding_clients(Steering::Forwarder, 200).await;
    // The kernel's hash sends most rebound clients to another worker: the forwarder worked.
    let forwarded: u64 = stats.iter().map(|s| s.forwarded).sum();
    assert!(forwarded > 0, "{stats:?}");
    assert!(stats.iter().all(|s| s.queue_full == 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connections_spread_over_the_workers() {
    init_tracing();
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .workers(WORKERS)
        .bind(localhost())
        .unwrap();
    let stats = endpoint.worker_stats();
    let server = serve_http3(endpoint);
    let config = Pki::get().quic_client(None);
    for _ in 0..50 {
        // 20 at a time, each from a socket (a port) of its own, as separate clients are.
        let connecting = (0..20).map(|_| {
            let client = quinn::Endpoint::client(localhost()).unwrap();
            let connect = client
                .connect_with(config.clone(), server.addr, "localhost")
                .unwrap();
            async move {
                let conn = connect.await.unwrap();
                conn.close(0u32.into(), b"");
                client.wait_idle().await;
            }
        });
        bounded(
            30,
            "a batch of handshakes",
            futures_util::future::join_all(connecting),
        )
        .await;
    }
    server.stop(std::time::Duration::from_secs(1)).await;
    let stats = stats.snapshot();
    assert_eq!(
        stats.iter().map(|s| s.connections).sum::<u64>(),
        1000,
        "{stats:?}"
    );
    assert_spread(&stats);
}

#[tokio::test]
async fn mistakes_in_the_worker_settings_are_refused_at_start() {
    let tls = Pki::get().server_tls();
    let refused = |builder: twinport_quinn::Builder| match builder.http3().bind(localhost()) {
        Err(e) => format!("{e:?}"),
        Ok(_) => panic!("accepted"),
    };
    let e = refused(Http3::builder(&tls).workers(0));
    assert!(e.contains("workers") && e.contains("at least 1"), "{e}");
    let e = refused(Http3::builder(&tls).workers(300));
    assert!(e.contains("300"), "{e}");
    let e = refused(Http3::builder(&tls).server_id([1u8; 15]));
    assert!(e.contains("15 bytes"), "{e}");
    let e = refused(Http3::builder(&tls).server_id([1]).connection_id_nonce(3));
    assert!(e.contains("nonce"), "{e}");
    let e = refused(
        Http3::builder(&tls)
            .server_id([1u8; 14])
            .connection_id_nonce(8),
    );
    assert!(e.contains("20"), "{e}");
}

#[tokio::test]
async fn a_live_group_on_the_port_is_not_joined() {
    let tls = Pki::get().server_tls();
    let first = Http3::builder(&tls)
        .http3()
        .workers(2)
        .bind(localhost())
        .unwrap();
    let taken = first.local_addr();
    match Http3::builder(&tls).http3().workers(2).bind(taken) {
        Err(e @ Error::AddressInUse { .. }) => {
            let text = format!("{e}");
            assert!(text.contains(&taken.to_string()), "{text}");
        }
        other => panic!("joined a live group: {other:?}"),
    }
    // twinport's own bind_same_port refuses it too.
    let e = twinport::bind_same_port(taken).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
}

#[tokio::test]
async fn an_inherited_socket_without_reuseport_cannot_have_workers() {
    let tls = Pki::get().server_tls();
    let plain = UdpSocket::bind(localhost()).unwrap();
    let e = Http3::builder(&tls)
        .http3()
        .workers(2)
        .socket(plain)
        .unwrap_err();
    assert!(format!("{e}").contains("SO_REUSEPORT"), "{e}");
    // bind_same_port's socket can: its group is joined on purpose.
    let (_tcp, udp) = twinport::bind_same_port(localhost()).unwrap();
    let endpoint = Http3::builder(&tls).http3().workers(2).socket(udp).unwrap();
    assert_eq!(endpoint.workers(), 2);
}

#[tokio::test]
async fn packets_for_another_server_are_dropped_unanswered_and_counted() {
    init_tracing();
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .server_id([9u8])
        .workers(2)
        .bind(localhost())
        .unwrap();
    let stats = endpoint.worker_stats();
    let server = serve_http3(endpoint);
    let socket = tokio::net::UdpSocket::bind(localhost()).await.unwrap();
    // Short-header packets (long enough for a stateless reset) naming server 8, and garbage.
    let foreign = twinport_quinn::fleet::RoutableCids::new(0, &[8, 0], 8).unwrap();
    let mut cid = foreign.clone();
    let cid = quinn_proto::ConnectionIdGenerator::generate_cid(&mut cid);
    let mut packet = vec![0x40];
    packet.extend_from_slice(&cid);
    packet.resize(60, 0xab);
    for datagram in [&packet[..], &[0x41, 1, 2][..], &[0x40; 100][..]] {
        socket.send_to(datagram, server.addr).await.unwrap();
    }
    let mut buf = [0u8; 1500];
    let answer = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        socket.recv_from(&mut buf),
    )
    .await;
    assert!(answer.is_err(), "answered: {answer:?}");
    let dropped: u64 = stats.snapshot().iter().map(|s| s.foreign).sum();
    assert_eq!(dropped, 3, "{:?}", stats.snapshot());
    // The control: the same packet naming this server (an old connection of its own, as
    // after a restart) is answered, with a stateless reset.
    let mut own = twinport_quinn::fleet::RoutableCids::new(0, &[9, 0], 8).unwrap();
    let cid = quinn_proto::ConnectionIdGenerator::generate_cid(&mut own);
    packet[1..1 + cid.len()].copy_from_slice(&cid);
    socket.send_to(&packet, server.addr).await.unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        socket.recv_from(&mut buf),
    )
    .await;
    assert!(
        matches!(answer, Ok(Ok(_))),
        "no stateless reset: {answer:?}"
    );
    // The server still serves.
    let mut h3 = H3::connect(server.addr, None).await.unwrap();
    assert_eq!(h3.get("/info").await.status, StatusCode::OK);
    server.stop(std::time::Duration::from_secs(1)).await;
}
