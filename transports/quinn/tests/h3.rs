//! HTTP/3 requests end to end with a Rust client (h3 + h3-quinn) on 127.0.0.1:0: heads,
//! bodies and trailers both ways, concurrency on one connection, and handlers that panic or
//! lose their client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::time::Duration;

use bytes::Bytes;
use h3_kit::*;
use http::{HeaderMap, Request, StatusCode};
use sha2::{Digest, Sha256};
use twinport_quinn::Http3;
use twinport_testkit::apps::info::{expected_sha, pattern_bytes, SERVED_BY};
use twinport_testkit::apps::{hex, sha256_hex};
use twinport_testkit::clients::{read_reply, uri, H3};
use twinport_testkit::servers::serve_http3_with;
use twinport_testkit::{bounded, init_tracing, Pki};

#[tokio::test]
async fn get_carries_status_body_headers_and_connection_info() {
    let (server, mut client) = serve_info().await;

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

    assert_eq!(close_and_stop(server, client).await.cut, 0);
}

#[tokio::test]
async fn streams_64_mib_up_and_down_intact() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let (server, client) = serve_info().await;

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

    close_and_stop(server, client).await;
}

#[tokio::test]
async fn trailers_travel_both_ways() {
    let (server, mut client) = serve_info().await;

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

    close_and_stop(server, client).await;
}

#[tokio::test]
async fn hundred_concurrent_requests_on_one_connection() {
    let (server, client) = serve_info().await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100u32 {
        let req = Request::post(uri("/echo")).body(()).unwrap();
        let reply = send_on(
            client.send.clone(),
            req,
            Bytes::from(format!("request {i}")),
        );
        tasks.spawn(async move { (i, reply.await.unwrap()) });
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

    close_and_stop(server, client).await;
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_connection_lives() {
    let (server, mut client) = serve_info().await;

    let reply = client.get("/panic").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);

    // A panic after the head was sent resets that stream only.
    let broken = bounded(
        10,
        "panicking body",
        get_on(client.send.clone(), "/panic-body"),
    )
    .await;
    assert!(broken.is_err(), "the stream must be reset: {broken:?}");

    // The same connection still serves.
    let reply = client.get("/info").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(server.gauge.live(), 1);

    close_and_stop(server, client).await;
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
    let endpoint = Http3::bind(localhost(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);

    let client = H3::connect(server.addr, None).await.unwrap();
    let mut stream = bounded(10, "upload", partial_upload(&client)).await;
    stream.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
    let outcome = bounded(10, "handler outcome", rx.recv()).await.unwrap();
    let err = outcome.expect_err("the handler's body must fail when the client resets");
    assert!(err.contains("reset") || err.contains("dropped"), "{err}");

    // The client vanishing mid-body fails the body too, and leaves no task behind.
    bounded(10, "upload then vanish", partial_upload(&client)).await;
    client.conn.close(0x10c_u32.into(), b"gone");
    client.driver.abort();
    let outcome = bounded(10, "handler outcome", rx.recv()).await.unwrap();
    assert!(outcome.is_err(), "{outcome:?}");

    let report = server.stop(Duration::from_secs(2)).await;
    assert_eq!(report.cut, 0, "no connection or request task left running");
}

/// A `POST /upload` whose body has begun (and had 100 ms to reach the handler) but not ended.
async fn partial_upload(client: &H3) -> Stream {
    let mut send = client.send.clone();
    let mut stream = open(&mut send, Request::post(uri("/upload")).body(()).unwrap()).await;
    stream
        .send_data(Bytes::from_static(b"partial"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream
}
