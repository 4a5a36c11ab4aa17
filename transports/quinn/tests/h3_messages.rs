//! HTTP/3 message rules end to end with the Rust h3 client on 127.0.0.1:0: a request's
//! content-length must match its body, connection-specific fields make it malformed, and a
//! response loses the fields and bodies HTTP/3 does not carry. Every await has a timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::convert::Infallible;

use bytes::Bytes;
use h3_kit::*;
use http::{Request, Response, StatusCode};
use twinport_quinn::{Http3, RecvBody};
use twinport_testkit::clients::{uri, Reply, H3};
use twinport_testkit::servers::{serve_http3, serve_http3_with};
use twinport_testkit::{init_tracing, Pki};

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
    let server = serve_http3(Http3::bind(localhost(), &pki.server_tls()).unwrap());
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

    close_and_stop(server, client).await;
}

#[tokio::test]
async fn connection_specific_request_headers_are_malformed() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(Http3::bind(localhost(), &pki.server_tls()).unwrap());
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
    close_and_stop(server, client).await;
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
    let endpoint = Http3::bind(localhost(), &pki.server_tls()).unwrap();
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

    close_and_stop(server, client).await;
}
