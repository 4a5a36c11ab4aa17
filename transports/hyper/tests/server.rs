//! `Http` as a `twinport::transport::Transport` under `twinport::Server`, on `bind_same_port`'s socket.
#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::net::TcpStream;
use twinport::Server;
use twinport_hyper::Http;
use twinport_testkit::apps::info::router;
use twinport_testkit::clients::{empty, local_port, tls_connect, Hyper, Proto};
use twinport_testkit::{init_tracing, within, Pki};

#[tokio::test]
async fn serves_under_twinport_server_and_drains_with_it() {
    init_tracing();
    let pki = Pki::get();
    let (tcp, _udp) = twinport::bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
    let http = Http::from_std(tcp).unwrap().tls(&pki.server_tls()).unwrap();
    let addr = http.local_addr().unwrap();
    let server = Server::new(router()).transport(http);
    let handle = server.handle();
    assert_eq!(handle.local_addrs(), vec![("tcp", Some(addr))]);
    let running = tokio::spawn(server.into_future());

    let tls = tls_connect(addr, &[b"h2"], None).await.unwrap();
    let port = local_port(&tls);
    let (mut client, _conn) = Hyper::handshake(tls, Proto::H2).await.unwrap();
    let info = client.get_json("/info").await;
    assert_eq!(info["remote"], format!("127.0.0.1:{port}"));
    assert_eq!(info["alpn"], "h2");
    assert_eq!(handle.connections(), vec![("tcp", 1)]);

    // A request in flight when the shutdown starts still completes.
    let req = client.request("GET", "/sleep?ms=500", empty());
    let pending = tokio::spawn(async move {
        let res = client.send(req).await.unwrap();
        within(res.into_body().collect()).await.unwrap().to_bytes()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    handle.shutdown(Duration::from_secs(5));
    assert_eq!(within(pending).await.unwrap(), "slept");
    let report = within(running).await.unwrap().unwrap();
    assert_eq!(report.cut, 0);
    assert!(TcpStream::connect(addr).await.is_err());
    assert_eq!(handle.connections(), vec![("tcp", 0)]);
}

#[test]
fn from_std_outside_a_runtime_is_an_error_not_a_panic() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Http::from_std(listener).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");
}

/// A client whose connection was accepted (and its TLS handshake done) before a drain began,
/// and whose HTTP/1.1 request comes after: it is answered, and the connection then closes
/// within the drain. (A restart on inherited sockets lost such requests: hyper closes an
/// HTTP/1.1 connection between requests at once when told to shut down.) HTTP/2 has its own
/// answer: the client is told by GOAWAY, and what it sent before that arrived is served.
#[tokio::test]
async fn a_request_on_a_connection_made_before_the_drain_is_answered() {
    init_tracing();
    let tls = Pki::get().server_tls();
    {
        let proto = Proto::H1;
        let http = Http::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .tls(&tls)
            .unwrap();
        let mut server = twinport_testkit::servers::serve_http(http, Duration::from_secs(5));
        let io = tls_connect(server.addr(), &[proto.alpn()], None)
            .await
            .unwrap();
        let (mut client, _driver) = Hyper::handshake(io, proto).await.unwrap();
        server.begin_shutdown();
        // Let the drain begin before the request leaves.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let req = client.request("GET", "/info", empty());
        let res = within(client.send(req))
            .await
            .unwrap_or_else(|e| panic!("{proto:?}: the request failed: {e}"));
        assert_eq!(res.status(), 200, "{proto:?}");
        let _ = res.into_body().collect().await;
        let report = server.join().await;
        assert_eq!(report.cut, 0, "{proto:?}");
    }
}
