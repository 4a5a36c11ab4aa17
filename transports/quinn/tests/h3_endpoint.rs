//! The HTTP/3 endpoint: raw QUIC protocols beside HTTP/3 by ALPN, in the order they were
//! registered; configuration mistakes as errors; and the endpoint as a twinport transport.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::future::IntoFuture;
use std::time::Duration;

use h3_kit::*;
use http::StatusCode;
use twinport_quinn::{Error, Http3};
use twinport_testkit::clients::{quic_connect, H3};
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki};

/// The ALPN protocol `conn`'s handshake settled on.
fn negotiated(conn: &quinn::Connection) -> Option<Vec<u8>> {
    conn.handshake_data()
        .unwrap()
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .unwrap()
        .protocol
}

#[tokio::test]
async fn raw_quic_echo_beside_http3_on_one_endpoint() {
    init_tracing();
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .route(b"echo/1", echo)
        .bind(localhost())
        .unwrap();
    assert_eq!(
        endpoint.alpn_protocols(),
        [b"h3".to_vec(), b"echo/1".to_vec()]
    );
    let server = serve_http3(endpoint);

    // The raw protocol.
    let (ep, conn) = quic_connect(server.addr, pki.quic_client_alpn(&[b"echo/1"], None))
        .await
        .unwrap();
    let echoed = bounded(10, "raw echo", async {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(b"over raw QUIC").await.unwrap();
        send.finish().unwrap();
        recv.read_to_end(1024).await.unwrap()
    })
    .await;
    assert_eq!(echoed, b"echo/1:over raw QUIC");
    conn.close(0u32.into(), b"");

    // HTTP/3 on the same port.
    let mut client = H3::connect(server.addr, None).await.unwrap();
    assert_eq!(client.get("/info").await.json()["alpn"], "h3");

    // A client offering both gets the server's first choice, h3.
    let (_ep2, both) = quic_connect(server.addr, pki.quic_client_alpn(&[b"echo/1", b"h3"], None))
        .await
        .unwrap();
    assert_eq!(negotiated(&both).as_deref(), Some(&b"h3"[..]));
    both.close(0u32.into(), b"");

    // An unknown protocol is refused in the handshake.
    let unknown = quic_connect(server.addr, pki.quic_client_alpn(&[b"gopher"], None)).await;
    assert!(unknown.is_err(), "unknown ALPN must be refused");

    client.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), ep.wait_idle()).await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn alpn_preference_follows_registration_order() {
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls())
        .route(b"echo/1", echo)
        .http3()
        .bind(localhost())
        .unwrap();
    let server = serve_http3(endpoint);
    let (_ep, conn) = quic_connect(server.addr, pki.quic_client_alpn(&[b"h3", b"echo/1"], None))
        .await
        .unwrap();
    assert_eq!(negotiated(&conn).as_deref(), Some(&b"echo/1"[..]));
    conn.close(0u32.into(), b"");
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn configuration_mistakes_are_errors_not_panics() {
    let pki = Pki::get();
    let tls = pki.server_tls();
    let dup = Http3::builder(&tls).http3().http3().bind(localhost());
    assert!(matches!(dup, Err(Error::DuplicateAlpn(_))), "{dup:?}");
    let empty = Http3::builder(&tls).route(b"", echo).bind(localhost());
    assert!(matches!(empty, Err(Error::InvalidAlpn(_))), "{empty:?}");
    let none = Http3::builder(&tls).bind(localhost());
    assert!(matches!(none, Err(Error::NoProtocols)), "{none:?}");

    let taken = std::net::UdpSocket::bind(localhost()).unwrap();
    let busy = Http3::bind(taken.local_addr().unwrap(), &tls);
    let err = busy.unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot bind UDP"), "{err}");

    let bad = Http3::builder(&tls)
        .http3()
        .quic_config(twinport_quinn::QuicConfig::default().max_concurrent_uni_streams(1))
        .bind(localhost());
    assert!(matches!(bad, Err(Error::Config { .. })), "{bad:?}");
}

#[tokio::test]
async fn runs_in_a_twinport_server_beside_nothing_else() {
    init_tracing();
    let pki = Pki::get();
    let (_tcp, udp) = twinport::bind_same_port(localhost()).unwrap();
    let http3 = Http3::new(udp, &pki.server_tls()).unwrap();
    let addr = http3.local_addr();
    assert!(http3.serves_http3());
    let server = twinport::Server::new(twinport_testkit::apps::info::router()).transport(http3);
    let handle = server.handle();
    let task = tokio::spawn(server.into_future());
    let mut client = H3::connect(addr, None).await.unwrap();
    let reply = client.get("/info").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["transport"], "quic");
    assert_eq!(handle.connections(), vec![("quic", 1)]);
    client.close().await;
    handle.shutdown(Duration::from_secs(2));
    let report = bounded(10, "server", task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);
}
