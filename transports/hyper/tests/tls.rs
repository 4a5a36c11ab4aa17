//! HTTP/1.1 and HTTP/2 over TLS with hyper's client: ConnectionInfo, mTLS, panics, trailers,
//! large bodies.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http_body_util::BodyExt;
use twinport::{BoxError, ClientAuth};
use twinport_hyper::{Http, TlsAcceptor};
use twinport_testkit::apps::info::{expected_sha, streaming};
use twinport_testkit::apps::{hex, sha256_hex};
use twinport_testkit::clients::{empty, local_port, tls_connect, Hyper, Proto, TCP};
use twinport_testkit::frames::{h2_frame_types, H2_GOAWAY, H2_SETTINGS};
use twinport_testkit::pki::Id;
use twinport_testkit::servers::{serve_http, HttpServer};
use twinport_testkit::{within, Pki};

async fn tls_server(auth: ClientAuth) -> HttpServer {
    let tls = Pki::get().server_tls().client_auth(auth);
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .tls(&tls)
        .unwrap();
    serve_http(http, Duration::from_secs(5))
}

async fn connect(server: &HttpServer, cert: Option<&Id>, proto: Proto) -> (Hyper, u16) {
    let tls = tls_connect(server.addr(), &[proto.alpn()], cert)
        .await
        .unwrap();
    let port = local_port(&tls);
    (Hyper::handshake(tls, proto).await.unwrap().0, port)
}

#[tokio::test]
async fn http1_and_http2_see_their_connection() {
    let server = tls_server(ClientAuth::None).await;
    for (proto, version) in [(Proto::H1, "HTTP/1.1"), (Proto::H2, "HTTP/2.0")] {
        let (mut client, port) = connect(&server, None, proto).await;
        let info = client.get_json("/info").await;
        assert_eq!(info["version"], version, "{info}");
        assert_eq!(
            info["alpn"],
            std::str::from_utf8(proto.alpn()).unwrap(),
            "{info}"
        );
        assert_eq!(info["sni"], "localhost");
        assert_eq!(info["transport"], "tcp");
        assert_eq!(info["remote"], format!("127.0.0.1:{port}"));
        assert_eq!(info["local"], server.addr().to_string());
        let tls13 = twinport::connection_info::TlsInfo::builder()
            .version(rustls::ProtocolVersion::TLSv1_3)
            .build()
            .version_str();
        assert_eq!(info["tls_version"].as_str(), tls13, "{info}");
        assert!(
            info["cipher"].as_str().unwrap().starts_with("TLS13_"),
            "{info}"
        );
        assert!(info["client_cn"].is_null());
        // The same connection keeps its id across requests.
        let again = client.get_json("/info").await;
        assert_eq!(again["id"], info["id"]);
    }
    assert_eq!(server.stop().await.cut, 0);
}

#[tokio::test]
async fn no_alpn_means_http1() {
    let server = tls_server(ClientAuth::None).await;
    let tls = tls_connect(server.addr(), &[], None).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tls, Proto::H1).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["version"], "HTTP/1.1");
    assert!(info["alpn"].is_null());
    // A client that negotiated http/1.1 but speaks HTTP/2 gets no HTTP/2.
    let tls = tls_connect(server.addr(), &[b"http/1.1"], None)
        .await
        .unwrap();
    let failed = match Hyper::handshake(tls, Proto::H2).await {
        Err(_) => true,
        Ok((mut c, _conn)) => {
            let req = c.request("GET", "/info", empty());
            c.send(req).await.is_err()
        }
    };
    assert!(failed, "HTTP/2 served on an http/1.1 connection");
    server.stop().await;
}

#[tokio::test]
async fn alpn_h2_never_falls_back_to_http1() {
    let server = tls_server(ClientAuth::None).await;
    let mut tls = tls_connect(server.addr(), &[b"h2"], None).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /info HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(tls.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // What came back is HTTP/2: the server's SETTINGS, then the connection closes (RFC 9113
    // §3.4 lets a server omit the GOAWAY after an invalid preface, and h2 does).
    let types = h2_frame_types(&buf);
    assert_eq!(types.first(), Some(&H2_SETTINGS), "{buf:?}");
    assert!(
        types.iter().all(|t| *t == H2_SETTINGS || *t == H2_GOAWAY),
        "{types:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn mtls_optional_reads_the_client_certificate_or_serves_anonymously() {
    let pki = Pki::get();
    let server = tls_server(ClientAuth::Optional(pki.roots())).await;
    for proto in TCP {
        let (mut alice, _) = connect(&server, Some(&pki.client), proto).await;
        let info = alice.get_json("/info").await;
        assert_eq!(info["client_cn"], "alice", "{info}");
        assert_eq!(info["client_dns"], serde_json::json!(["alice.example"]));
        assert_eq!(
            info["client_uris"],
            serde_json::json!(["spiffe://example.org/alice"])
        );

        let (mut anon, _) = connect(&server, None, proto).await;
        let info = anon.get_json("/info").await;
        assert!(info["client_cn"].is_null(), "{info}");
        assert_eq!(info["sni"], "localhost");
    }
    // A certificate from another CA is refused, even in optional mode.
    assert!(refused(&server, Some(&pki.foreign)).await);
    server.stop().await;
}

#[tokio::test]
async fn mtls_required_refuses_missing_and_foreign_certificates() {
    let pki = Pki::get();
    let server = tls_server(ClientAuth::Required(pki.roots())).await;
    let (mut alice, _) = connect(&server, Some(&pki.client), Proto::H2).await;
    let info = alice.get_json("/info").await;
    assert_eq!(info["client_cn"], "alice");
    assert!(refused(&server, None).await);
    assert!(refused(&server, Some(&pki.foreign)).await);
    server.stop().await;
}

/// Whether a client with `cert` is refused. With TLS 1.3 the client may finish its side of
/// the handshake before the server rejects its certificate, so the refusal can show up on
/// the first request instead.
async fn refused(server: &HttpServer, cert: Option<&Id>) -> bool {
    let Ok(tls) = tls_connect(server.addr(), &[b"http/1.1"], cert).await else {
        return true;
    };
    let Ok((mut client, _conn)) = Hyper::handshake(tls, Proto::H1).await else {
        return true;
    };
    let req = client.request("GET", "/info", empty());
    client.send(req).await.is_err()
}

#[tokio::test]
async fn a_panicking_handler_gets_a_500_and_the_connection_lives_on() {
    let server = tls_server(ClientAuth::None).await;
    for proto in TCP {
        let (mut client, _) = connect(&server, None, proto).await;
        let first = client.get_json("/info").await;
        let req = client.request("GET", "/panic", empty());
        let res = client.send(req).await.unwrap();
        assert_eq!(res.status(), 500);
        within(res.into_body().collect()).await.unwrap();
        let after = client.get_json("/info").await;
        assert_eq!(after["id"], first["id"], "same connection");
    }
    server.stop().await;
}

#[tokio::test]
async fn http2_trailers_pass_both_ways() {
    let server = tls_server(ClientAuth::None).await;
    let (mut client, _) = connect(&server, None, Proto::H2).await;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc123".parse().unwrap());
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(vec![
        Ok::<_, BoxError>(hyper::body::Frame::data(bytes::Bytes::from_static(
            b"hello ",
        ))),
        Ok(hyper::body::Frame::data(bytes::Bytes::from_static(
            b"trailers",
        ))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ]));
    let req = client.request("POST", "/trailers", BodyExt::boxed(body));
    let res = client.send(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let collected = within(res.into_body().collect()).await.unwrap();
    let trailers = collected.trailers().cloned().expect("response trailers");
    assert_eq!(collected.to_bytes(), "hello trailers");
    assert_eq!(trailers["x-echo-checksum"], "abc123");
    assert_eq!(
        trailers["x-sha256"].to_str().unwrap(),
        sha256_hex(b"hello trailers")
    );
    server.stop().await;
}

const BIG: u64 = 64 * 1024 * 1024;

#[tokio::test]
async fn sixty_four_mib_up_and_down_over_http2_and_http1() {
    let server = tls_server(ClientAuth::None).await;
    let want = expected_sha(BIG);
    for proto in [Proto::H2, Proto::H1] {
        let (mut client, _) = connect(&server, None, proto).await;

        let req = client.request("POST", "/upload", streaming(BIG));
        let res = client.send(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(got["len"], BIG);
        assert_eq!(got["sha256"], want);

        let req = client.request("GET", &format!("/download?n={BIG}"), empty());
        let res = client.send(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let mut body = res.into_body();
        let mut h = <sha2::Sha256 as sha2::Digest>::new();
        let mut len = 0;
        while let Some(frame) = within(body.frame()).await {
            if let Ok(data) = frame.unwrap().into_data() {
                len += data.len() as u64;
                sha2::Digest::update(&mut h, &data);
            }
        }
        assert_eq!(len, BIG);
        assert_eq!(hex(&sha2::Digest::finalize(h)), want);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_slow_handshake_does_not_block_others() {
    let pki = Pki::get();
    let tls = TlsAcceptor::from_server_tls(&pki.server_tls())
        .unwrap()
        .handshake_timeout(Duration::from_millis(500));
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .acceptor(tls);
    let server = serve_http(http, Duration::from_secs(5));
    // A client that connects and says nothing.
    let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (mut client, _) = connect(&server, None, Proto::H2).await;
    assert_eq!(client.get_json("/info").await["version"], "HTTP/2.0");
    // The silent one is dropped when its handshake time runs out.
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1];
    let n = within(tokio::io::AsyncReadExt::read(&mut silent, &mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}
