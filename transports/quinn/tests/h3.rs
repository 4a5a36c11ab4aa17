//! End-to-end HTTP/3 tests with a Rust client (h3 + h3-quinn) on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use sha2::{Digest, Sha256};
use twinport::ClientAuth;
use twinport_quinn::{Error, Http3, QuicConnection};
use twinport_testkit::app::info::{expected_sha, pattern, pattern_bytes, SERVED_BY};
use twinport_testkit::*;

const LOCALHOST: &str = "127.0.0.1:0";

fn h3_endpoint(tls: &twinport::ServerTls) -> Http3 {
    Http3::bind(LOCALHOST.parse().unwrap(), tls).unwrap()
}

#[tokio::test]
async fn get_carries_status_body_headers_and_connection_info() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let mut client = H3::connect(server.addr, None).await.unwrap();

    let req = Request::get(uri("/info"))
        .header("x-test", "hello")
        .body(())
        .unwrap();
    let reply = client.send(req, Bytes::new(), None).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["x-served-by"], SERVED_BY);
    assert_eq!(reply.headers["x-test-echo"], "hello");
    assert_eq!(reply.headers["content-type"], "application/json");
    let info = reply.json();
    assert_eq!(info["transport"], "quic");
    assert_eq!(info["alpn"], "h3");
    assert_eq!(info["version"], "HTTP/3.0");
    assert_eq!(info["sni"], "localhost");
    assert_eq!(info["tls_version"], "TLSv1.3");
    assert_eq!(info["early_data"], false);
    assert!(info["client_cn"].is_null());
    let remote: std::net::SocketAddr = info["remote"].as_str().unwrap().parse().unwrap();
    assert_eq!(remote.port(), client.local_port());
    assert_eq!(info["local"], server.addr.to_string());

    // A second request on the same connection carries the same connection id.
    let again = client.get("/info").await.json();
    assert_eq!(again["id"], info["id"]);
    let missing = client.get("/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    client.close().await;
    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0);
}

async fn mtls_info(auth: ClientAuth, cert: Option<&Id>) -> Result<serde_json::Value, String> {
    let pki = Pki::get();
    let tls = pki.server_tls().client_auth(auth);
    let server = serve_http3(h3_endpoint(&tls));
    let result = async {
        let (endpoint, conn) = quic_connect(server.addr, pki.quic_client(cert))
            .await
            .map_err(|e| e.to_string())?;
        let (mut driver, mut send) = bounded(
            10,
            "h3 setup",
            h3::client::new(h3_quinn::Connection::new(conn.clone())),
        )
        .await
        .map_err(|e| e.to_string())?;
        let drive = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        let reply = bounded(10, "mTLS request", async {
            let mut stream = send
                .send_request(Request::get(uri("/info")).body(()).unwrap())
                .await?;
            stream.finish().await?;
            read_reply(&mut stream).await
        })
        .await
        .map_err(|e| e.to_string())?;
        conn.close(0u32.into(), b"");
        drive.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        Ok(reply.json())
    }
    .await;
    server.stop(Duration::from_secs(1)).await;
    result
}

#[tokio::test]
async fn mtls_none_ignores_client_certificates() {
    init_tracing();
    let pki = Pki::get();
    let info = mtls_info(ClientAuth::none(), Some(&pki.client))
        .await
        .unwrap();
    assert!(info["client_cn"].is_null(), "{info}");
    let info = mtls_info(ClientAuth::none(), None).await.unwrap();
    assert!(info["client_cn"].is_null(), "{info}");
}

#[tokio::test]
async fn mtls_optional_serves_both_and_shows_the_certificate() {
    init_tracing();
    let pki = Pki::get();
    let info = mtls_info(ClientAuth::optional(pki.roots()), Some(&pki.client))
        .await
        .unwrap();
    assert_eq!(info["client_cn"], "alice");
    assert_eq!(info["client_dns"], serde_json::json!(["alice.example"]));
    assert_eq!(info["client_spiffe"], "spiffe://example.org/alice");
    assert!(info["client_issuer"]
        .as_str()
        .unwrap()
        .contains("twinport test CA"));

    let anonymous = mtls_info(ClientAuth::optional(pki.roots()), None)
        .await
        .unwrap();
    assert!(anonymous["client_cn"].is_null());

    let other_ca = mtls_info(ClientAuth::optional(pki.roots()), Some(&pki.foreign)).await;
    assert!(
        other_ca.is_err(),
        "a certificate from another CA must be refused: {other_ca:?}"
    );
}

#[tokio::test]
async fn mtls_required_refuses_missing_and_foreign_certificates() {
    init_tracing();
    let pki = Pki::get();
    let info = mtls_info(ClientAuth::required(pki.roots()), Some(&pki.client))
        .await
        .unwrap();
    assert_eq!(info["client_cn"], "alice");

    let none = mtls_info(ClientAuth::required(pki.roots()), None).await;
    assert!(none.is_err(), "no certificate must be refused: {none:?}");
    let other_ca = mtls_info(ClientAuth::required(pki.roots()), Some(&pki.foreign)).await;
    assert!(
        other_ca.is_err(),
        "another CA must be refused: {other_ca:?}"
    );
}

#[tokio::test]
async fn streams_64_mib_up_and_down_intact() {
    init_tracing();
    const SIZE: u64 = 64 * 1024 * 1024;
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();

    // Download: the client hashes what arrives, chunk by chunk.
    let mut send = client.send.clone();
    let (count, digest) = bounded(120, "64 MiB download", async {
        let req = Request::get(uri(&format!("/download?n={SIZE}")))
            .body(())
            .unwrap();
        let mut stream = send.send_request(req).await.unwrap();
        stream.finish().await.unwrap();
        let head = stream.recv_response().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        let mut hasher = Sha256::new();
        let mut count = 0u64;
        while let Some(mut chunk) = stream.recv_data().await.unwrap() {
            use bytes::Buf;
            let data = chunk.copy_to_bytes(chunk.remaining());
            count += data.len() as u64;
            hasher.update(&data);
        }
        (count, hex(&hasher.finalize()))
    })
    .await;
    let expected = expected_sha(SIZE);
    assert_eq!(count, SIZE);
    assert_eq!(digest, expected);

    // Upload: streamed in 1 MiB frames; the server hashes as it reads.
    let mut send = client.send.clone();
    let reply = bounded(120, "64 MiB upload", async {
        let req = Request::post(uri("/sha256")).body(()).unwrap();
        let mut stream = send.send_request(req).await.unwrap();
        for start in (0..SIZE).step_by(1 << 20) {
            stream
                .send_data(pattern_bytes(start, 1 << 20))
                .await
                .unwrap();
        }
        stream.finish().await.unwrap();
        read_reply(&mut stream).await.unwrap()
    })
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), format!("{SIZE} {expected}"));

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn trailers_travel_both_ways() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let mut client = H3::connect(server.addr, None).await.unwrap();

    // Response trailers.
    let reply = client.get("/trailers").await;
    assert_eq!(reply.text(), "with trailers");
    assert_eq!(reply.trailers.as_ref().unwrap()["x-checksum"], "abc123");

    // Request trailers reach the handler (echoed back as response trailers).
    let mut trailers = HeaderMap::new();
    trailers.insert("x-upload-digest", "deadbeef".parse().unwrap());
    let reply = client
        .send(
            Request::post(uri("/sha256")).body(()).unwrap(),
            Bytes::from_static(b"hello"),
            Some(trailers.clone()),
        )
        .await
        .unwrap();
    assert_eq!(reply.text(), format!("5 {}", sha256_hex(b"hello")));
    assert_eq!(reply.trailers.unwrap()["x-upload-digest"], "deadbeef");

    // The echo service streams the request body back, trailers and all.
    let reply = client
        .send(
            Request::post(uri("/echo")).body(()).unwrap(),
            Bytes::from_static(b"ping"),
            Some(trailers),
        )
        .await
        .unwrap();
    assert_eq!(reply.text(), "ping");
    assert_eq!(reply.trailers.unwrap()["x-upload-digest"], "deadbeef");

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn hundred_concurrent_requests_on_one_connection() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let mut send = client.send.clone();
        tasks.spawn(async move {
            let req = Request::post(uri("/echo")).body(()).unwrap();
            let mut stream = send.send_request(req).await.unwrap();
            stream
                .send_data(Bytes::from(format!("request {i}")))
                .await
                .unwrap();
            stream.finish().await.unwrap();
            let reply = read_reply(&mut stream).await.unwrap();
            (i, reply)
        });
    }
    let replies = bounded(60, "100 concurrent requests", async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap());
        }
        out
    })
    .await;
    assert_eq!(replies.len(), 100);
    for (i, reply) in replies {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), format!("request {i}"));
    }
    assert_eq!(server.gauge.live(), 1, "all on one connection");

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

async fn echo(conn: QuicConnection) -> Result<(), twinport::BoxError> {
    let info = conn.connection_info().clone();
    let conn = conn.connection().clone();
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let data = recv.read_to_end(1024 * 1024).await?;
        let alpn = info.alpn_str().unwrap_or("").to_owned();
        send.write_all(format!("{alpn}:").as_bytes()).await?;
        send.write_all(&data).await?;
        send.finish()?;
    }
    Ok(())
}

#[tokio::test]
async fn raw_quic_echo_beside_http3_on_one_endpoint() {
    init_tracing();
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .route(b"echo/1", echo)
        .bind(LOCALHOST.parse().unwrap())
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
    let negotiated = both
        .handshake_data()
        .unwrap()
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .unwrap()
        .protocol;
    assert_eq!(negotiated.as_deref(), Some(&b"h3"[..]));
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
        .bind(LOCALHOST.parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);
    let (_ep, conn) = quic_connect(server.addr, pki.quic_client_alpn(&[b"h3", b"echo/1"], None))
        .await
        .unwrap();
    let negotiated = conn
        .handshake_data()
        .unwrap()
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .unwrap()
        .protocol;
    assert_eq!(negotiated.as_deref(), Some(&b"echo/1"[..]));
    conn.close(0u32.into(), b"");
    server.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_connection_lives() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let mut client = H3::connect(server.addr, None).await.unwrap();

    let reply = client.get("/panic").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);

    // A panic after the head was sent resets that stream only.
    let mut send = client.send.clone();
    let broken = bounded(10, "panicking body", async {
        let mut stream = send
            .send_request(Request::get(uri("/panic-body")).body(()).unwrap())
            .await
            .unwrap();
        stream.finish().await.unwrap();
        read_reply(&mut stream).await
    })
    .await;
    assert!(broken.is_err(), "the stream must be reset: {broken:?}");

    // The same connection still serves.
    let reply = client.get("/info").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(server.gauge.live(), 1);

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();

    let mut send = client.send.clone();
    let in_flight = tokio::spawn(async move {
        let mut stream = send
            .send_request(Request::get(uri("/sleep?ms=700")).body(()).unwrap())
            .await
            .unwrap();
        stream.finish().await.unwrap();
        read_reply(&mut stream).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let trigger = server.trigger.clone();
    trigger.shutdown(Duration::from_secs(5));

    let reply = bounded(10, "in-flight request", in_flight)
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "slept");

    // New requests after GOAWAY are refused.
    let mut send = client.send.clone();
    let late = bounded(10, "request after GOAWAY", async {
        let mut stream = send
            .send_request(Request::get(uri("/info")).body(()).unwrap())
            .await?;
        stream.finish().await?;
        read_reply(&mut stream).await
    })
    .await;
    assert!(late.is_err(), "no new request after shutdown: {late:?}");

    let report = bounded(10, "server stop", server.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.cut, 0);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "drained before the deadline"
    );
    client.close().await;
}

#[tokio::test]
async fn the_grace_period_cuts_what_does_not_finish() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();
    let mut send = client.send.clone();
    let stuck = tokio::spawn(async move {
        let mut stream = send
            .send_request(Request::get(uri("/sleep?ms=60000")).body(()).unwrap())
            .await
            .unwrap();
        stream.finish().await.unwrap();
        read_reply(&mut stream).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = server.stop(Duration::from_millis(300)).await;
    assert_eq!(report.cut, 1);
    let result = bounded(10, "cut request", stuck).await.unwrap();
    assert!(result.is_err());
    client.close().await;
}

#[tokio::test]
async fn a_client_reset_mid_upload_errors_the_handlers_body() {
    use http_body_util::BodyExt;
    init_tracing();
    let pki = Pki::get();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<usize, String>>();
    // A handler that reports how reading its body ended, or that it was dropped: a client
    // that stops the response stream cancels the handler (as hyper does on RST_STREAM), and
    // which of the two comes first is a race.
    struct Report(Option<tokio::sync::mpsc::UnboundedSender<Result<usize, String>>>);
    impl Drop for Report {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(Err("handler dropped".into()));
            }
        }
    }
    let service = tower::service_fn(move |req: Request<twinport_quinn::RecvBody>| {
        let mut report = Report(Some(tx.clone()));
        async move {
            let mut body = req.into_body();
            let mut n = 0;
            let outcome = loop {
                match body.frame().await {
                    None => break Ok(n),
                    Some(Ok(f)) => n += f.data_ref().map_or(0, |d| d.len()),
                    Some(Err(e)) => break Err(e.to_string()),
                }
            };
            if let Some(tx) = report.0.take() {
                let _ = tx.send(outcome);
            }
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("read")))
        }
    });
    let endpoint = Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);

    let client = H3::connect(server.addr, None).await.unwrap();
    let mut send = client.send.clone();
    bounded(10, "reset upload", async {
        let mut stream = send
            .send_request(Request::post(uri("/upload")).body(()).unwrap())
            .await
            .unwrap();
        stream
            .send_data(Bytes::from_static(b"partial"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
    })
    .await;
    let outcome = bounded(10, "handler outcome", rx.recv()).await.unwrap();
    let err = outcome.expect_err("the handler's body must fail when the client resets");
    assert!(err.contains("reset") || err.contains("dropped"), "{err}");

    // The client vanishing mid-body fails the body too, and leaves no task behind.
    let mut send = client.send.clone();
    bounded(10, "upload then vanish", async {
        let mut stream = send
            .send_request(Request::post(uri("/upload")).body(()).unwrap())
            .await
            .unwrap();
        stream
            .send_data(Bytes::from_static(b"partial"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    client.conn.close(0x10c_u32.into(), b"gone");
    client.driver.abort();
    let outcome = bounded(10, "handler outcome", rx.recv()).await.unwrap();
    assert!(outcome.is_err(), "{outcome:?}");

    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0, "no connection or request task left running");
}

#[tokio::test]
async fn shutdown_waits_for_a_large_response_to_be_delivered() {
    init_tracing();
    const SIZE: u64 = 16 * 1024 * 1024;
    let pki = Pki::get();
    let server = serve_http3(h3_endpoint(&pki.server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();
    let mut send = client.send.clone();
    let download = tokio::spawn(async move {
        let req = Request::get(uri(&format!("/download?n={SIZE}")))
            .body(())
            .unwrap();
        let mut stream = send.send_request(req).await.unwrap();
        stream.finish().await.unwrap();
        read_reply(&mut stream).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.trigger.shutdown(Duration::from_secs(30));
    let reply = bounded(60, "download across shutdown", download)
        .await
        .unwrap()
        .expect("the response in flight is delivered whole");
    assert_eq!(reply.body.len() as u64, SIZE);
    assert!(reply
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == pattern(i as u64)));
    let report = bounded(40, "server", server.task).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);
    client.close().await;
}

#[tokio::test]
async fn configuration_mistakes_are_errors_not_panics() {
    let pki = Pki::get();
    let tls = pki.server_tls();
    let dup = Http3::builder(&tls)
        .http3()
        .http3()
        .bind(LOCALHOST.parse().unwrap());
    assert!(matches!(dup, Err(Error::DuplicateAlpn(_))), "{dup:?}");
    let empty = Http3::builder(&tls)
        .route(b"", echo)
        .bind(LOCALHOST.parse().unwrap());
    assert!(matches!(empty, Err(Error::InvalidAlpn(_))), "{empty:?}");
    let none = Http3::builder(&tls).bind(LOCALHOST.parse().unwrap());
    assert!(matches!(none, Err(Error::NoProtocols)), "{none:?}");

    let taken = std::net::UdpSocket::bind(LOCALHOST).unwrap();
    let busy = Http3::bind(taken.local_addr().unwrap(), &tls);
    let err = busy.unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot bind UDP"), "{err}");

    let bad = Http3::builder(&tls)
        .http3()
        .quic_config(twinport_quinn::QuicConfig::default().max_concurrent_uni_streams(1))
        .bind(LOCALHOST.parse().unwrap());
    assert!(matches!(bad, Err(Error::Config { .. })), "{bad:?}");
}

#[tokio::test]
async fn runs_in_a_twinport_server_beside_nothing_else() {
    init_tracing();
    let pki = Pki::get();
    let (_tcp, udp) = twinport::bind_same_port(LOCALHOST.parse().unwrap()).unwrap();
    let http3 = Http3::new(udp, &pki.server_tls()).unwrap();
    let addr = http3.local_addr();
    assert!(http3.serves_http3());
    let server = twinport::Server::new(app::info::router()).transport(http3);
    let handle = server.handle();
    let task = tokio::spawn(server.serve());
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
