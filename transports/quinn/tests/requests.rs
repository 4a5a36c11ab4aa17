//! The requests of one HTTP/3 connection: in the connection's own task by default, each in a
//! tokio task of its own with `Http3Config::spawn_requests(true)`. Either way, a handler that
//! awaits holds no other request. In the connection's task, a handler that holds its thread
//! holds its own connection's other requests, and no other connection.
//!
//! The servers run on a [`ServerRuntime`] of their own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::time::{Duration, Instant};

use bytes::Bytes;
use h3_kit::*;
use http::{Request, StatusCode};
use twinport_quinn::{Http3, Http3Config};
use twinport_testkit::clients::{uri, SendRequest, H3};
use twinport_testkit::servers::{serve_http3, Http3Server, ServerRuntime};
use twinport_testkit::{bounded, init_tracing, Pki};

/// The info app with `spawn_requests`, on a runtime of its own.
async fn start(spawn: bool) -> (ServerRuntime, Http3Server) {
    let rt = ServerRuntime::new();
    let server = rt.start(server(spawn)).await;
    (rt, server)
}

async fn server(spawn: bool) -> Http3Server {
    init_tracing();
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .http3_config(Http3Config::default().spawn_requests(spawn))
        .bind(localhost())
        .unwrap();
    serve_http3(endpoint)
}

/// `GET path` on a clone of the connection's sender: status and body.
async fn get(send: SendRequest, path: &str) -> (StatusCode, Bytes) {
    let req = Request::get(uri(path)).body(()).unwrap();
    let reply = bounded(30, "HTTP/3 request", send_on(send, req, Bytes::new()))
        .await
        .unwrap();
    (reply.status, Bytes::from(reply.body))
}

#[tokio::test]
async fn a_handler_that_awaits_holds_no_other_request_of_its_connection() {
    for spawn in [false, true] {
        let (_rt, server) = start(spawn).await;
        let client = H3::connect(server.addr, None).await.unwrap();
        let sleeping = tokio::spawn(get(client.send.clone(), "/sleep?ms=3000"));
        let started = Instant::now();
        // Below the default 100 requests in flight, the sleeping one included.
        let quick: Vec<_> = (0..50)
            .map(|_| tokio::spawn(get(client.send.clone(), "/info")))
            .collect();
        for q in quick {
            assert_eq!(q.await.unwrap().0, StatusCode::OK, "spawn_requests={spawn}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "spawn_requests={spawn}: 50 requests behind a sleeping one took {:?}",
            started.elapsed()
        );
        assert!(
            !sleeping.is_finished(),
            "spawn_requests={spawn}: the sleep was cut short"
        );
        let (status, body) = sleeping.await.unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"slept"[..]));
        assert_eq!(close_and_stop(server, client).await.cut, 0);
    }
}

#[tokio::test]
async fn requests_run_in_their_connections_task_unless_spawned() {
    for spawn in [false, true] {
        let (_rt, server) = start(spawn).await;
        let task = |send| async move {
            let (status, body) = get(send, "/info").await;
            assert_eq!(status, StatusCode::OK);
            let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
            info["task"].as_str().unwrap().to_owned()
        };
        let one = H3::connect(server.addr, None).await.unwrap();
        let two = H3::connect(server.addr, None).await.unwrap();
        let first = task(one.send.clone()).await;
        let second = task(one.send.clone()).await;
        let other = task(two.send.clone()).await;
        assert_ne!(
            first, other,
            "spawn_requests={spawn}: two connections, one task"
        );
        if spawn {
            assert_ne!(first, second, "spawned: two requests in one task");
        } else {
            assert_eq!(first, second, "requests outside their connection's task");
        }
        two.close().await;
        close_and_stop(server, one).await;
    }
}

#[tokio::test]
async fn a_handler_that_holds_its_thread_holds_only_its_own_connection() {
    const BLOCK: Duration = Duration::from_millis(2000);
    let (_rt, server) = start(false).await;
    let client = H3::connect(server.addr, None).await.unwrap();
    let other = H3::connect(server.addr, None).await.unwrap();
    let blocking = tokio::spawn(get(client.send.clone(), "/block?ms=2000"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Another connection goes on: the runtime's other threads take its I/O.
    let started = Instant::now();
    assert_eq!(get(other.send.clone(), "/info").await.0, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "another connection waited {:?} for a handler blocking its thread",
        started.elapsed()
    );
    // The blocked handler's own connection waits for it.
    let started = Instant::now();
    assert_eq!(get(client.send.clone(), "/info").await.0, StatusCode::OK);
    let waited = started.elapsed();
    assert!(
        waited >= BLOCK - Duration::from_millis(500),
        "answered after {waited:?}, while another handler of the connection held its thread \
         (for {BLOCK:?})"
    );
    let (status, body) = blocking.await.unwrap();
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"blocked"[..]));
    other.close().await;
    close_and_stop(server, client).await;
}
