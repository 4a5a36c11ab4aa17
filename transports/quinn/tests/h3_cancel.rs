//! HTTP/3 requests the client gives up on, end to end with the Rust h3 client on
//! 127.0.0.1:0: a cancelled request drops its handler, only a body left unread is stopped (with
//! H3_NO_ERROR), and a response reset by its failing body does not hold up shutdown. Every
//! await has a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use h3_kit::*;
use http::{Request, Response, StatusCode};
use twinport_quinn::{Http3, RecvBody};
use twinport_testkit::clients::{quic_connect, read_reply, uri, H3};
use twinport_testkit::servers::serve_http3_with;
use twinport_testkit::{bounded, init_tracing, Pki};

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
    let endpoint = Http3::bind(localhost(), &pki.server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    let client = H3::connect(server.addr, None).await.unwrap();

    let mut send = client.send.clone();
    let mut stream = bounded(10, "request", async {
        let mut stream = open(&mut send, Request::get(uri("/forever")).body(()).unwrap()).await;
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
    let mut again = open(&mut send, Request::get(uri("/forever")).body(()).unwrap()).await;
    let dropped = bounded(10, "the second handler to start", started_rx.recv())
        .await
        .unwrap();
    again.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
    bounded(5, "the second handler to be dropped", dropped)
        .await
        .expect("the guard reports its drop");

    assert_eq!(close_and_stop(server, client).await.cut, 0);
}

#[tokio::test]
async fn only_a_request_body_left_unread_is_stopped_and_with_h3_no_error() {
    init_tracing();
    let pki = Pki::get();
    // Answers at once and never reads the body.
    let service = tower::service_fn(|_req: Request<RecvBody>| async {
        Ok::<_, Infallible>(Response::new(String::from("not reading that")))
    });
    let endpoint = Http3::bind(localhost(), &pki.server_tls()).unwrap();
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
        let mut get = open(&mut send, Request::get(uri("/")).body(()).unwrap()).await;
        bounded(10, "GET finish", get.finish()).await.unwrap();
        let reply = bounded(10, "GET reply", read_reply(&mut get))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(conn.stats().frame_rx.stop_sending, 0);

    let mut stream = open(&mut send, Request::post(uri("/upload")).body(()).unwrap()).await;
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
    let endpoint = Http3::bind(localhost(), &pki.server_tls()).unwrap();
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
