//! Plaintext HTTP/1.1 and h2c, Unix sockets, WebSocket upgrades, the PROXY protocol and
//! graceful shutdown.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use twinport::BoxError;
use twinport_hyper::{Http, HttpConfig, ProxyMode};
use twinport_testkit::apps::info::{expected_sha, router, streaming};
use twinport_testkit::apps::sha256_hex;
use twinport_testkit::clients::{empty, tls_over, Hyper, Proto, TCP};
use twinport_testkit::servers::{plain_server, serve_http, HttpServer};
use twinport_testkit::{init_tracing, within, Pki, TempDir};

#[tokio::test]
async fn plaintext_serves_http1_and_h2c_prior_knowledge() {
    init_tracing();
    let server = plain_server().await;
    for proto in TCP {
        let tcp = TcpStream::connect(server.addr()).await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (mut client, _conn) = Hyper::handshake(tcp, proto).await.unwrap();
        let info = client.get_json("/info").await;
        assert_eq!(
            info["version"],
            if proto == Proto::H2 {
                "HTTP/2.0"
            } else {
                "HTTP/1.1"
            }
        );
        assert_eq!(info["remote"], format!("127.0.0.1:{port}"));
        assert!(info["alpn"].is_null());
        assert!(info["sni"].is_null());
        assert!(info["proxy_peer"].is_null());
    }
    assert_eq!(server.stop().await.cut, 0);
}

#[tokio::test]
async fn a_unix_socket_is_served_as_transport_unix() {
    init_tracing();
    let dir = TempDir::new("unix");
    let path = dir.path("http.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = serve_http(Http::new(listener), Duration::from_secs(5));
    for proto in TCP {
        let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (mut client, _conn) = Hyper::handshake(stream, proto).await.unwrap();
        let info = client.get_json("/info").await;
        assert_eq!(info["transport"], "unix");
        assert!(info["remote"].is_null());
    }
    server.stop().await;
}

#[tokio::test]
async fn websocket_upgrade_and_echo() {
    init_tracing();
    let server = plain_server().await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (mut ws, res) = within(tokio_tungstenite::client_async(
        format!("ws://{}/ws", server.addr()),
        tcp,
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 101);
    for text in ["hello", "twinport"] {
        within(ws.send(tokio_tungstenite::tungstenite::Message::text(text)))
            .await
            .unwrap();
        let reply = within(ws.next()).await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), format!("echo: {text}"));
    }
    within(ws.close(None)).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn sixty_four_mib_over_h2c_and_plain_http1() {
    init_tracing();
    const BIG: u64 = 64 * 1024 * 1024;
    let server = plain_server().await;
    let want = expected_sha(BIG);
    for proto in [Proto::H2, Proto::H1] {
        let tcp = TcpStream::connect(server.addr()).await.unwrap();
        let (mut client, _conn) = Hyper::handshake(tcp, proto).await.unwrap();
        let req = client.request("POST", "/upload", streaming(BIG));
        let res = client.send(req).await.unwrap();
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(got["sha256"], want);
        let req = client.request("GET", &format!("/download?n={BIG}"), empty());
        let res = client.send(req).await.unwrap();
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        assert_eq!(body.len() as u64, BIG);
        assert_eq!(sha256_hex(&body), want);
    }
    server.stop().await;
}

async fn proxy_server(mode: ProxyMode) -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .proxy_protocol(mode);
    serve_http(http, Duration::from_secs(5))
}

#[tokio::test]
async fn proxy_v1_reports_the_client() {
    let server = proxy_server(ProxyMode::Required).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let balancer = tcp.local_addr().unwrap();
    tcp.write_all(b"PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n")
        .await
        .unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["remote"], "203.0.113.7:40000");
    assert_eq!(info["proxy_peer"], balancer.to_string());
    assert_eq!(info["proxy_destination"], "192.0.2.10:443");
    server.stop().await;
}

#[tokio::test]
async fn proxy_v2_reports_the_client_over_h2c() {
    let server = proxy_server(ProxyMode::Required).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let client_addr: std::net::SocketAddr = "[2001:db8::7]:51000".parse().unwrap();
    let dest: std::net::SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    let header = ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (client_addr, dest),
    )
    .build()
    .unwrap();
    tcp.write_all(&header).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H2).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["version"], "HTTP/2.0");
    assert_eq!(info["remote"], client_addr.to_string());
    assert_eq!(info["proxy_destination"], dest.to_string());
    server.stop().await;
}

#[tokio::test]
async fn proxy_required_closes_connections_without_a_header() {
    let server = proxy_server(ProxyMode::Required).await;
    for request in [
        &b"GET /info HTTP/1.1\r\nhost: x\r\n\r\n"[..],
        b"PROXY TCP4 not-an-address\r\nGET /info HTTP/1.1\r\nhost: x\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let _ = within(tcp.read_to_end(&mut buf)).await;
        assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    }
    server.stop().await;
}

#[tokio::test]
async fn proxy_optional_serves_both() {
    let server = proxy_server(ProxyMode::Optional).await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["remote"], format!("127.0.0.1:{port}"));
    assert!(info["proxy_peer"].is_null());

    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"PROXY TCP4 198.51.100.2 192.0.2.10 1234 80\r\n")
        .await
        .unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    assert_eq!(
        client.get_json("/info").await["remote"],
        "198.51.100.2:1234"
    );
    server.stop().await;
}

#[tokio::test]
async fn proxy_then_tls() {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .proxy_protocol(ProxyMode::Required)
        .tls(&Pki::get().server_tls())
        .unwrap();
    let server = serve_http(http, Duration::from_secs(5));
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(b"PROXY TCP4 203.0.113.9 192.0.2.10 40001 443\r\n")
        .await
        .unwrap();
    let tls = within(tls_over(tcp, &[b"h2"], None)).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tls, Proto::H2).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["remote"], "203.0.113.9:40001");
    assert_eq!(info["alpn"], "h2");
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    init_tracing();
    let mut server = plain_server().await;
    let addr = server.addr();
    // One HTTP/1.1 and one HTTP/2 connection, each with a slow request in flight.
    let mut in_flight = Vec::new();
    for proto in TCP {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut client, _conn) = Hyper::handshake(tcp, proto).await.unwrap();
        in_flight.push(tokio::spawn(async move {
            let req = client.request("GET", "/sleep?ms=800", empty());
            let res = client.send(req).await.unwrap();
            let close = res.headers().get("connection").cloned();
            let body = within(res.into_body().collect()).await.unwrap().to_bytes();
            (body, close)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.begin_shutdown();

    // New connections are refused soon after.
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr).await {
            Err(_) => break,
            Ok(_) if started.elapsed() > Duration::from_secs(5) => {
                panic!("still accepting after shutdown")
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    for (i, task) in in_flight.into_iter().enumerate() {
        let (body, close) = within(task).await.unwrap();
        assert_eq!(body, "slept");
        if i == 0 {
            assert_eq!(close.as_ref().map(|v| v.as_bytes()), Some(&b"close"[..]));
        }
    }
    let report = server.join().await;
    assert_eq!(report.cut, 0);
}

#[tokio::test]
async fn connections_still_busy_at_the_deadline_are_cut_and_counted() {
    init_tracing();
    let http = Http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut server = serve_http(http, Duration::from_millis(300));
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    let pending = tokio::spawn(async move {
        let req = client.request("GET", "/sleep?ms=20000", empty());
        client.send(req).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.begin_shutdown();
    let report = server.join().await;
    assert_eq!(report.cut, 1);
    assert!(within(pending).await.unwrap().is_err());
}

#[tokio::test]
async fn idle_connections_are_closed() {
    init_tracing();
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(HttpConfig::default().idle_timeout(Duration::from_millis(200)));
    let server = serve_http(http, Duration::from_secs(5));
    // A client that never sends a byte (a plaintext connection waiting for its preface).
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = within(silent.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}

#[tokio::test]
async fn a_full_server_holds_new_clients_until_a_slot_frees() {
    init_tracing();
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(HttpConfig::default().max_connections(1));
    let server = serve_http(http, Duration::from_secs(5));
    let first = TcpStream::connect(server.addr()).await.unwrap();
    let (mut first, _conn) = Hyper::handshake(first, Proto::H1).await.unwrap();
    first.get_json("/info").await;
    // The second connection completes in the kernel but is not served yet.
    let second = TcpStream::connect(server.addr()).await.unwrap();
    let (mut second, _conn) = Hyper::handshake(second, Proto::H1).await.unwrap();
    let req = second.request("GET", "/info", empty());
    let waiting = tokio::spawn(async move {
        let res = second.send(req).await.unwrap();
        res.status()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past the connection limit");
    drop(first);
    assert_eq!(within(waiting).await.unwrap(), 200);
    server.stop().await;
}

#[tokio::test]
async fn slow_http1_headers_hit_the_header_read_timeout() {
    init_tracing();
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(
            HttpConfig::default()
                .header_read_timeout(Duration::from_millis(300))
                .idle_timeout(None),
        );
    let server = serve_http(http, Duration::from_secs(5));
    let mut slow = TcpStream::connect(server.addr()).await.unwrap();
    // Enough for HTTP/1 to be detected, never the end of the headers.
    slow.write_all(b"GET /info HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = within(slow.read_to_end(&mut buf)).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(!String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    server.stop().await;
}

/// A listener whose first accepts fail the way `EMFILE` does.
struct Flaky {
    inner: tokio::net::TcpListener,
    failures: usize,
}

impl twinport_hyper::Listener for Flaky {
    type Io = TcpStream;

    fn poll_accept(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<
        std::io::Result<(TcpStream, twinport::connection_info::ConnectionInfoBuilder)>,
    > {
        if self.failures > 0 {
            self.failures -= 1;
            return std::task::Poll::Ready(Err(std::io::Error::other("Too many open files")));
        }
        twinport_hyper::Listener::poll_accept(&mut self.inner, cx)
    }

    fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.local_addr().ok()
    }
}

#[tokio::test]
async fn accept_errors_are_retried_with_backoff() {
    init_tracing();
    let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = serve_http(
        Http::new(Flaky { inner, failures: 4 }),
        Duration::from_secs(5),
    );
    let started = Instant::now();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (mut client, _conn) = Hyper::handshake(tcp, Proto::H1).await.unwrap();
    assert_eq!(client.get_json("/info").await["transport"], "tcp");
    // 10 + 20 + 40 + 80 ms of back-off before the first successful accept.
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_service_error_is_a_500_and_the_connection_lives_on() {
    init_tracing();
    // A tower service that fails for /fail (as a timeout or load-shed layer would) and
    // otherwise hands over to the app.
    let app = router();
    let svc = tower::service_fn(move |req: http::Request<twinport_hyper::RequestBody>| {
        let app = app.clone();
        async move {
            if req.uri().path() == "/fail" {
                return Err::<axum::response::Response, BoxError>("overloaded".into());
            }
            tower::ServiceExt::oneshot(app, req)
                .await
                .map_err(BoxError::from)
        }
    });
    let http = Http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = http.local_addr().unwrap();
    let task = tokio::spawn(http.serve(svc));
    for proto in TCP {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut client, _conn) = Hyper::handshake(tcp, proto).await.unwrap();
        let first = client.get_json("/info").await;
        let req = client.request("GET", "/fail", empty());
        let res = client.send(req).await.unwrap();
        assert_eq!(res.status(), 500);
        within(res.into_body().collect()).await.unwrap();
        let after = client.get_json("/info").await;
        assert_eq!(after["id"], first["id"], "same connection");
    }
    task.abort();
}
