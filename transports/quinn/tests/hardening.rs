//! HTTP/3 connection limits end to end with the Rust h3 client on 127.0.0.1:0: the
//! stream and connection limits, and 0-RTT requests under the handshake's rules. Every await
//! has a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h3_kit::*;
use http::{Request, Response, StatusCode};
use twinport_quinn::{Http3, Http3Config, QuicConfig, RecvBody};
use twinport_testkit::clients::{quic_connect, read_reply, uri, H3};
use twinport_testkit::servers::{serve_http3, serve_http3_with};
use twinport_testkit::{bounded, init_tracing, Pki};

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
        .bind(localhost())
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

    assert_eq!(close_and_stop(server, client).await.cut, 0);
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused() {
    init_tracing();
    let pki = Pki::get();
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .quic_config(QuicConfig::default().max_connections(1))
        .bind(localhost())
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
    let server = serve_http3(Http3::bind(localhost(), &pki.server_tls().early_data(true)).unwrap());
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
        .bind(localhost())
        .unwrap();
    let server = serve_http3(endpoint);

    let provider = twinport::tls::default_crypto_provider().unwrap();
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
