//! The HTTP/2 streams of one connection: in the connection's own task by default, each in a
//! tokio task of its own with `HttpConfig::http2_spawn_streams(true)`. Either way, a handler
//! that awaits holds no other request. In the connection's task, a handler that holds its
//! thread holds its own connection's other requests, and no other connection.
//!
//! The servers run on a [`ServerRuntime`] of their own.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use twinport_hyper::{Http, HttpConfig};
use twinport_testkit::clients::{empty, ClientBody, Hyper, Proto};
use twinport_testkit::servers::{serve_http, HttpServer, ServerRuntime};
use twinport_testkit::{within, Pki};

/// The info app with `spawn_streams`, over TLS or h2c, on a runtime of its own; what to call it
/// in a failure.
async fn start(spawn: bool, tls: bool) -> (ServerRuntime, HttpServer, String) {
    let rt = ServerRuntime::new();
    let config = HttpConfig::default().http2_spawn_streams(spawn);
    let server = rt.start(server(config, tls)).await;
    (rt, server, format!("spawn_streams={spawn} tls={tls}"))
}

async fn server(config: HttpConfig, tls: bool) -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(config);
    if tls {
        serve_http(
            http.tls(&Pki::get().server_tls()).unwrap(),
            Duration::from_secs(5),
        )
    } else {
        serve_http(http, Duration::from_secs(5))
    }
}

/// One HTTP/2 connection: over TLS (ALPN `h2`), or h2c with prior knowledge.
async fn h2(server: &HttpServer, tls: bool) -> SendRequest<ClientBody> {
    let client = if tls {
        Hyper::connect(server.addr(), Proto::H2, None)
            .await
            .unwrap()
            .0
    } else {
        let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        Hyper::handshake(tcp, Proto::H2).await.unwrap().0
    };
    match client {
        Hyper::H2(send) => send,
        Hyper::H1(_) => unreachable!("asked for HTTP/2"),
    }
}

/// `GET path` on the connection: status and body.
async fn get(mut send: SendRequest<ClientBody>, path: &str) -> (u16, bytes::Bytes) {
    let req = http::Request::get(format!("https://localhost{path}"))
        .body(empty())
        .unwrap();
    within(send.ready()).await.unwrap();
    let res = send.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    (status, res.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn a_handler_that_awaits_holds_no_other_stream_of_its_connection() {
    for spawn in [false, true] {
        for tls in [true, false] {
            let (_rt, server, what) = start(spawn, tls).await;
            let send = h2(&server, tls).await;
            let sleeping = tokio::spawn(get(send.clone(), "/sleep?ms=3000"));
            let started = Instant::now();
            let quick: Vec<_> = (0..50)
                .map(|_| tokio::spawn(get(send.clone(), "/info")))
                .collect();
            for q in quick {
                let (status, _) = within(q).await.unwrap();
                assert_eq!(status, 200, "{what}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{what}: 50 requests behind a sleeping one took {:?}",
                started.elapsed()
            );
            assert!(!sleeping.is_finished(), "{what}: the sleep was cut short");
            let (status, body) = within(sleeping).await.unwrap();
            assert_eq!((status, &body[..]), (200, &b"slept"[..]), "{what}");
            assert_eq!(server.stop().await.cut, 0, "{what}");
        }
    }
}

#[tokio::test]
async fn streams_run_in_their_connections_task_unless_spawned() {
    for spawn in [false, true] {
        for tls in [true, false] {
            let (_rt, server, what) = start(spawn, tls).await;
            let task = |send| async move {
                let (status, body) = get(send, "/info").await;
                assert_eq!(status, 200);
                let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
                info["task"].as_str().unwrap().to_owned()
            };
            let one = h2(&server, tls).await;
            let (first, second) = (task(one.clone()).await, task(one).await);
            let other = task(h2(&server, tls).await).await;
            assert_ne!(first, other, "{what}: two connections, one task");
            if spawn {
                assert_ne!(first, second, "{what}: two streams in one task");
            } else {
                assert_eq!(
                    first, second,
                    "{what}: streams outside their connection's task"
                );
            }
            server.stop().await;
        }
    }
}

#[tokio::test]
async fn a_handler_that_holds_its_thread_holds_only_its_own_connection() {
    const BLOCK: Duration = Duration::from_millis(2000);
    let (_rt, server, _) = start(false, true).await;
    let send = h2(&server, true).await;
    let other = h2(&server, true).await;
    let blocking = tokio::spawn(get(send.clone(), "/block?ms=2000"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Another connection goes on: the runtime's other threads take its I/O.
    let started = Instant::now();
    assert_eq!(get(other, "/info").await.0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "another connection waited {:?} for a handler blocking its thread",
        started.elapsed()
    );
    // The blocked handler's own connection waits for it.
    let started = Instant::now();
    assert_eq!(get(send.clone(), "/info").await.0, 200);
    let waited = started.elapsed();
    assert!(
        waited >= BLOCK - Duration::from_millis(500),
        "answered after {waited:?}, while another handler of the connection held its thread \
         (for {BLOCK:?})"
    );
    let (status, body) = within(blocking).await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"blocked"[..]));
    server.stop().await;
}
