//! End-to-end tests of the limits and HTTP/3 message rules, with the Rust h3 client on
//! 127.0.0.1:0. Every await has a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use twinport_quinn::{Http3, Http3Config, QuicConfig, RecvBody};
use twinport_testkit::*;

const LOCALHOST: &str = "127.0.0.1:0";

#[tokio::test]
async fn a_lower_quic_stream_limit_is_not_raised_by_the_request_limit() {
    init_tracing();
    let pki = Pki::get();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let service = {
        let (running, peak) = (running.clone(), peak.clone());
        tower::service_fn(move |_req: Request<RecvBody>| {
            let (running, peak) = (running.clone(), peak.clone());
            let mut release = release_rx.clone();
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let _ = release.wait_for(|r| *r).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Infallible>(Response::new(String::from("done")))
            }
        })
    };
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .quic_config(QuicConfig::default().max_concurrent_bidi_streams(2))
        .http3_config(Http3Config::default().max_concurrent_requests(100))
        .bind(LOCALHOST.parse().unwrap())
        .unwrap();
    let server = serve_http3_with(endpoint, service);
    let client = H3::connect(server.addr, None).await.unwrap();

    let mut requests = Vec::new();
    for _ in 0..3 {
        let mut send = client.send.clone();
        requests.push(tokio::spawn(async move {
            let mut stream = send
                .send_request(Request::get(uri("/hold")).body(()).unwrap())
                .await?;
            stream.finish().await?;
            read_reply(&mut stream).await
        }));
    }
    bounded(10, "two requests running", async {
        while running.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The third has no stream credit while two are open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(running.load(Ordering::SeqCst), 2);
    release_tx.send(true).unwrap();
    for request in requests {
        let reply = bounded(10, "request", request).await.unwrap().unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);

    client.close().await;
    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0);
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused() {
    init_tracing();
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .quic_config(QuicConfig::default().max_connections(1))
        .bind(LOCALHOST.parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);
    let mut first = H3::connect(server.addr, None).await.unwrap();
    assert_eq!(first.get("/info").await.status, StatusCode::OK);
    let second = quic_connect(server.addr, pki.quic_client(None)).await;
    let err = second.expect_err("a second connection is over the limit");
    assert!(
        matches!(err, quinn::ConnectionError::ConnectionClosed(_)),
        "{err:?}"
    );
    // The first one is still served.
    assert_eq!(first.get("/info").await.status, StatusCode::OK);

    first.close().await;
    bounded(10, "the first connection to end on the server", async {
        while server.gauge.live() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let mut third = H3::connect(server.addr, None).await.unwrap();
    assert_eq!(third.get("/info").await.status, StatusCode::OK);
    third.close().await;
    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0);
}

#[tokio::test]
async fn with_early_data_on_a_post_on_a_fresh_connection_is_served_not_425() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(
        Http3::bind(
            LOCALHOST.parse().unwrap(),
            &pki.server_tls().early_data(true),
        )
        .unwrap(),
    );
    for i in 0..10 {
        let mut client = H3::connect(server.addr, None).await.unwrap();
        let body = format!("post {i}");
        let reply = client
            .send(
                Request::post(uri("/echo")).body(()).unwrap(),
                Bytes::from(body.clone()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "POST {i}");
        assert_eq!(reply.text(), body);
        // Sent after the client's handshake completed: not early data.
        assert_eq!(client.get("/info").await.json()["early_data"], false);
        client.close().await;
    }
    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0);
}

/// Verifies the server's certificate, but only after blocking its thread for a while: a client
/// that stalls its handshake after the ClientHello.
#[derive(Debug)]
struct SlowVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    delay: Duration,
}

impl rustls::client::danger::ServerCertVerifier for SlowVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        std::thread::sleep(self.delay);
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

// Multi-threaded: the slow client blocks one worker thread while the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_early_data_on_the_handshake_timeout_still_applies() {
    init_tracing();
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls().early_data(true))
        .http3()
        .quic_config(QuicConfig::default().handshake_timeout(Duration::from_millis(500)))
        .bind(LOCALHOST.parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);

    let provider = twinport::default_crypto_provider().unwrap();
    let roots = pki.root_store();
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SlowVerifier {
            inner,
            delay: Duration::from_secs(2),
        }))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(crypto));

    // The server gives up on the handshake at 500 ms, before the client's Finished.
    match quic_connect(server.addr, config).await {
        Err(e) => tracing::debug!(error = %e, "refused in the handshake"),
        Ok((_endpoint, conn)) => {
            let reason = bounded(5, "the server to close the late connection", conn.closed()).await;
            tracing::debug!(%reason, "closed after the handshake timeout");
        }
    }
    bounded(5, "the connection to end on the server", async {
        while server.gauge.live() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.stop(Duration::from_secs(2)).await;
}

/// Sends `req` with `body` and reads the reply.
async fn send(client: &mut H3, req: http::request::Builder, body: &'static [u8]) -> Reply {
    client
        .send(req.body(()).unwrap(), Bytes::from_static(body), None)
        .await
        .expect("a reply")
}

#[tokio::test]
async fn request_content_length_must_match_the_body() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap());
    let mut client = H3::connect(server.addr, None).await.unwrap();
    let post = |path: &str, length: &str| Request::post(uri(path)).header("content-length", length);

    let ok = send(&mut client, post("/sha256", "5"), b"hello").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.text().starts_with("5 "), "{}", ok.text());
    // The handler's body fails (the test app answers 400 with the error).
    let short = send(&mut client, post("/sha256", "10"), b"hello").await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.text().contains("content-length"), "{}", short.text());
    let long = send(&mut client, post("/sha256", "3"), b"hello").await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.text().contains("content-length"), "{}", long.text());
    // Unusable or conflicting values are malformed requests.
    let bad = send(&mut client, post("/sha256", "5x"), b"hello").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let conflicting = send(&mut client, post("/sha256", "5, 6"), b"hello").await;
    assert_eq!(conflicting.status, StatusCode::BAD_REQUEST);

    // The body's size hint is exact, so the echoed response gets a content-length.
    let echoed = send(&mut client, post("/echo", "5"), b"hello").await;
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(echoed.text(), "hello");
    assert_eq!(echoed.headers["content-length"], "5");

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn connection_specific_request_headers_are_malformed() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap());
    let mut client = H3::connect(server.addr, None).await.unwrap();
    for (name, value) in [
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
        ("keep-alive", "timeout=5"),
        ("upgrade", "websocket"),
        ("proxy-connection", "keep-alive"),
        ("te", "gzip"),
    ] {
        let reply = send(
            &mut client,
            Request::get(uri("/info")).header(name, value),
            b"",
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {value}");
    }
    let trailers = send(
        &mut client,
        Request::get(uri("/info")).header("te", "trailers"),
        b"",
    )
    .await;
    assert_eq!(trailers.status, StatusCode::OK);
    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn responses_lose_connection_headers_and_bodies_where_none_belong() {
    init_tracing();
    let pki = Pki::get();
    let service = tower::service_fn(|req: Request<RecvBody>| async move {
        let status = match req.uri().path() {
            "/no-content" => StatusCode::NO_CONTENT,
            "/not-modified" => StatusCode::NOT_MODIFIED,
            _ => StatusCode::OK,
        };
        let mut resp = Response::new(String::from("hello"));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert("connection", "keep-alive".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("transfer-encoding", "chunked".parse().unwrap());
        headers.insert("upgrade", "h2c".parse().unwrap());
        headers.insert("x-kept", "yes".parse().unwrap());
        Ok::<_, Infallible>(resp)
    });
    let endpoint = Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    let mut client = H3::connect(server.addr, None).await.unwrap();

    let get = client.get("/").await;
    assert_eq!(get.text(), "hello");
    assert_eq!(get.headers["x-kept"], "yes");
    for name in ["connection", "keep-alive", "transfer-encoding", "upgrade"] {
        assert!(!get.headers.contains_key(name), "{name} was sent");
    }
    // The body's exact size becomes the content-length.
    assert_eq!(get.headers["content-length"], "5");

    let head = send(&mut client, Request::head(uri("/")), b"").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty(), "a HEAD response has no body");
    assert_eq!(head.headers["content-length"], "5");
    for path in ["/no-content", "/not-modified"] {
        let reply = client.get(path).await;
        assert!(reply.body.is_empty(), "{path} has no body");
        assert!(!reply.headers.contains_key("content-length"), "{path}");
    }

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

/// Reports on a channel when dropped.
struct DropGuard(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn a_client_cancelling_a_request_drops_its_handler() {
    init_tracing();
    let pki = Pki::get();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
    let service = tower::service_fn(move |_req: Request<RecvBody>| {
        let started = started_tx.clone();
        async move {
            let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel();
            let _guard = DropGuard(Some(dropped_tx));
            let _ = started.send(dropped_rx);
            // Never answers: only cancellation ends this handler.
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(String::new()))
        }
    });
    let endpoint = Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    let client = H3::connect(server.addr, None).await.unwrap();

    let mut send = client.send.clone();
    let mut stream = bounded(10, "request", async {
        let mut stream = send
            .send_request(Request::get(uri("/forever")).body(()).unwrap())
            .await
            .unwrap();
        stream.finish().await.unwrap();
        stream
    })
    .await;
    let dropped = bounded(10, "the handler to start", started_rx.recv())
        .await
        .unwrap();
    // RFC 9114 §4.1.1: the client cancels by stopping the response and resetting the request.
    stream.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
    stream.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
    bounded(5, "the handler to be dropped", dropped)
        .await
        .expect("the guard reports its drop");

    // The connection still serves (the next handler runs, and is cancelled the same way).
    let mut send = client.send.clone();
    let mut again = bounded(
        10,
        "second request",
        send.send_request(Request::get(uri("/forever")).body(()).unwrap()),
    )
    .await
    .unwrap();
    let dropped = bounded(10, "the second handler to start", started_rx.recv())
        .await
        .unwrap();
    again.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
    bounded(5, "the second handler to be dropped", dropped)
        .await
        .expect("the guard reports its drop");

    client.close().await;
    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0);
}

#[tokio::test]
async fn only_a_request_body_left_unread_is_stopped_and_with_h3_no_error() {
    init_tracing();
    let pki = Pki::get();
    // Answers at once and never reads the body.
    let service = tower::service_fn(|_req: Request<RecvBody>| async {
        Ok::<_, Infallible>(Response::new(String::from("not reading that")))
    });
    let endpoint = Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    // Without grease: the server would stop the client's grease stream, which is no request.
    let (endpoint, conn) = quic_connect(server.addr, pki.quic_client(None))
        .await
        .unwrap();
    let (mut driver, mut send) = bounded(
        10,
        "h3 client",
        h3::client::builder()
            .send_grease(false)
            .build::<_, _, Bytes>(h3_quinn::Connection::new(conn.clone())),
    )
    .await
    .unwrap();
    let driver = tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });

    // GETs end with their head: the unread (empty) body needs no STOP_SENDING.
    for _ in 0..20 {
        let mut get = bounded(
            10,
            "GET",
            send.send_request(Request::get(uri("/")).body(()).unwrap()),
        )
        .await
        .unwrap();
        bounded(10, "GET finish", get.finish()).await.unwrap();
        let reply = bounded(10, "GET reply", read_reply(&mut get))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(conn.stats().frame_rx.stop_sending, 0);

    let mut stream = bounded(
        10,
        "request",
        send.send_request(Request::post(uri("/upload")).body(()).unwrap()),
    )
    .await
    .unwrap();
    stream
        .send_data(Bytes::from_static(b"the start of a long body"))
        .await
        .unwrap();
    let reply = bounded(10, "reply", read_reply(&mut stream)).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "not reading that");
    // RFC 9114 §4.1: a server that does not need the rest of the request stops the stream
    // with H3_NO_ERROR; the client's next writes fail with that code.
    let stopped = bounded(10, "the stream to be stopped", async {
        loop {
            if let Err(e) = stream.send_data(Bytes::from(vec![0u8; 16 * 1024])).await {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let described = format!("{stopped:?}");
    assert!(
        described.contains("H3_NO_ERROR"),
        "stopped with {described}"
    );
    assert_eq!(conn.stats().frame_rx.stop_sending, 1);

    conn.close(0u32.into(), b"done");
    driver.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_response_reset_by_its_failing_body_does_not_hold_up_shutdown() {
    init_tracing();
    let pki = Pki::get();
    // Answers after a moment (so the cancellation watch is polled), then its body fails
    // after the first chunk: the server resets the stream.
    let service = tower::service_fn(|_req: Request<RecvBody>| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let chunks = futures_util::stream::iter([
            Ok::<_, twinport::BoxError>(http_body::Frame::data(Bytes::from_static(b"partial"))),
            Err("the body failed on purpose".into()),
        ]);
        Ok::<_, Infallible>(Response::new(http_body_util::StreamBody::new(chunks)))
    });
    let endpoint = Http3::bind(LOCALHOST.parse().unwrap(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    let mut client = H3::connect(server.addr, None).await.unwrap();
    for _ in 0..3 {
        // The client sees the reset (or a cut-off body), never a whole response.
        let reply = client
            .send(Request::get(uri("/")).body(()).unwrap(), Bytes::new(), None)
            .await;
        assert!(reply.is_err(), "{:?}", reply.map(|r| r.status));
    }

    // A reset stream has nothing left to deliver: the connection closes at once rather than
    // waiting out the grace period for acknowledgements that never come.
    let started = std::time::Instant::now();
    let report = server.stop(Duration::from_secs(8)).await;
    assert_eq!(report.cut, 0);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    client.close().await;
}
