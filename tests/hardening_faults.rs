#![allow(clippy::unwrap_used)]
//! Hardening against what is no attack but breaks all the same: garbage bytes and datagrams,
//! clients that vanish mid-body, handlers that panic.
//!
//! What every hardening test checks: `hardening/mod.rs`.

mod hardening;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use hardening::{kill, served_after};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use twinport_quinn::QuicConfig;
use twinport_testkit::clients::{empty, served, tls_connect, Hyper, Proto, ALL, H3};
use twinport_testkit::logs::Logs;
use twinport_testkit::relay::Relay;
use twinport_testkit::rng::Rng;
use twinport_testkit::servers::{start, Opts, Srv};
use twinport_testkit::sys::rss_kib;
use twinport_testkit::{bounded, eventually};

/// Attack: random bytes on the TCP port (instead of TLS, and inside TLS on HTTP/1.1 and
/// HTTP/2) and random datagrams at the QUIC port, some shaped like QUIC long headers. The
/// server must drop them without a panic and without logging above debug for any of them.
#[tokio::test]
async fn garbage_is_dropped_quietly() {
    let logs = Logs::capture();
    let srv = start(Opts::default());
    served(srv.addr, "before the garbage").await;
    // Startup lines are not the garbage's doing.
    logs.clear();
    let mut rng = Rng::new(0x5eed);
    for i in 0..60 {
        // Before TLS.
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let junk = rng.junk(4096);
        let _ = s.write_all(&junk).await;
        let mut buf = Vec::new();
        let _ = bounded(30, "garbage before TLS closed", s.read_to_end(&mut buf)).await;
        // After TLS, on both ALPNs.
        let alpn: &[u8] = if i % 2 == 0 { b"h2" } else { b"http/1.1" };
        let mut tls = tls_connect(srv.addr, &[alpn], None).await.unwrap();
        let junk = rng.junk(4096);
        let _ = tls.write_all(&junk).await;
        let mut buf = Vec::new();
        let _ = bounded(30, "garbage after TLS closed", tls.read_to_end(&mut buf)).await;
    }
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000 {
        let mut d = rng.junk(1500);
        if i % 3 == 0 && d.len() > 8 {
            // A long header, QUIC v1, so that it reaches the Initial packet parser.
            d[0] = 0xc0 | (d[0] & 0x0f);
            d[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        let _ = udp.send_to(&d, srv.addr).await;
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    served(srv.addr, "after the garbage").await;
    srv.settles("garbage connections closed").await;
    let loud: Vec<String> = logs
        .lines_at("WARN")
        .into_iter()
        .chain(logs.lines_at("ERROR"))
        .chain(logs.lines_at("INFO"))
        .collect();
    assert!(
        loud.is_empty(),
        "garbage was logged above debug:\n{}",
        loud.join("\n")
    );
    let debug_lines = logs.text().lines().count();
    eprintln!("garbage: {debug_lines} debug lines for 120 TCP connections + 3000 datagrams");
    assert!(debug_lines < 2000, "{debug_lines} log lines: a flood");
    srv.stop().await;
}

/// Fault: a client that vanishes in the middle of an upload, and in the middle of a download,
/// on each protocol (TCP: the socket closes; QUIC: the client's packets just stop, via a relay
/// we cut). The handler's body must end in an error, and no connection, handler or response
/// body may be left behind.
#[tokio::test]
async fn vanishing_clients_leave_nothing_behind() {
    let srv = start(Opts {
        quic: QuicConfig::default().idle_timeout(Duration::from_secs(3)),
        ..Opts::default()
    });
    let rss_before = rss_kib();
    for round in 0..3 {
        for proto in ALL {
            let errors_before = srv.stats.body_errors();
            // Upload: a body that never ends, then the client is gone.
            vanish_mid_upload(&srv, proto).await;
            eventually(&format!("{proto:?} upload body error"), || {
                srv.stats.body_errors() > errors_before
            })
            .await;
            // Download: read a little of an endless body, then gone.
            vanish_mid_download(&srv, proto).await;
            srv.settles(&format!(
                "round {round}: {proto:?} vanishing clients cleaned up"
            ))
            .await;
        }
    }
    assert_eq!(srv.stats.bodies_ok.load(Ordering::SeqCst), 0);
    eprintln!("vanishing: RSS {rss_before} -> {} KiB", rss_kib());
    served(srv.addr, "after vanishing clients").await;
    srv.stop().await;
}

async fn vanish_mid_upload(srv: &Srv, proto: Proto) {
    let started = srv.stats.upload_started.load(Ordering::SeqCst);
    match proto {
        Proto::H1 | Proto::H2 => {
            let (mut c, task, socket) = Hyper::connect_killable(srv.addr, proto).await;
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, hyper::Error>(hyper::body::Frame::data(b)), rx))
            });
            let body = http_body_util::StreamBody::new(stream).boxed();
            let mut req = c.request("POST", "/upload", body);
            req.headers_mut()
                .insert("content-length", "100000000".parse().unwrap());
            let pending = tokio::spawn(async move { c.send(req).await.map(|_| ()) });
            for _ in 0..8 {
                tx.send(Bytes::from(vec![b'u'; 16 * 1024])).await.unwrap();
            }
            eventually("upload handler started", || {
                srv.stats.upload_started.load(Ordering::SeqCst) > started
            })
            .await;
            // Gone: the socket dies mid-body, before the client could cancel anything.
            kill(socket, task);
            pending.abort();
            drop(tx);
        }
        Proto::H3 => {
            let relay = Relay::new(srv.addr).await;
            let mut c = H3::connect(relay.addr, None).await.unwrap();
            let req = http::Request::post("https://localhost/upload")
                .body(())
                .unwrap();
            let mut s = c.send.send_request(req).await.unwrap();
            for _ in 0..8 {
                s.send_data(Bytes::from(vec![b'u'; 16 * 1024]))
                    .await
                    .unwrap();
            }
            eventually("upload handler started", || {
                srv.stats.upload_started.load(Ordering::SeqCst) > started
            })
            .await;
            vanish_h3(srv, relay, c, s).await;
        }
    }
}

async fn vanish_mid_download(srv: &Srv, proto: Proto) {
    let started = srv.stats.download_started.load(Ordering::SeqCst);
    match proto {
        Proto::H1 | Proto::H2 => {
            let (mut c, task, socket) = Hyper::connect_killable(srv.addr, proto).await;
            let req = c.request("GET", "/download", empty());
            let res = bounded(30, "download head", c.send(req)).await.unwrap();
            let mut body = res.into_body();
            let mut got = 0;
            while got < 256 * 1024 {
                let frame = bounded(30, "download data", body.frame()).await;
                let frame = frame.unwrap().unwrap();
                got += frame.data_ref().map_or(0, |d| d.len());
            }
            kill(socket, task);
            drop((body, c));
        }
        Proto::H3 => {
            let relay = Relay::new(srv.addr).await;
            let mut c = H3::connect(relay.addr, None).await.unwrap();
            let req = http::Request::get("https://localhost/download")
                .body(())
                .unwrap();
            let mut s = c.send.send_request(req).await.unwrap();
            s.finish().await.unwrap();
            bounded(30, "download head", s.recv_response())
                .await
                .unwrap();
            let mut got = 0;
            while got < 256 * 1024 {
                let chunk = bounded(30, "download data", s.recv_data()).await;
                got += chunk.unwrap().map_or(0, |c| bytes::Buf::remaining(&c));
            }
            vanish_h3(srv, relay, c, s).await;
        }
    }
    assert!(srv.stats.download_started.load(Ordering::SeqCst) > started);
}

/// Cuts an HTTP/3 client off at its relay, keeping it quiet but alive (with its request
/// stream) until the server has given up on it, so that only the silence ends the connection.
async fn vanish_h3<S>(srv: &Srv, relay: Relay, c: H3, stream: S) {
    relay.cut();
    eventually("server noticed the vanished QUIC client", || {
        srv.quic() == 0
    })
    .await;
    drop(stream);
    c.driver.abort();
    c.endpoint.close(0u32.into(), b"");
}

/// Fault: a handler that panics, on each protocol. The request must get a 500 and the server
/// (and, on HTTP/2 and HTTP/3, the same connection) must go on serving.
#[tokio::test]
async fn handler_panic_is_a_500_on_every_protocol() {
    let logs = Logs::capture();
    let srv = start(Opts::default());
    for proto in [Proto::H1, Proto::H2] {
        let (mut c, task) = Hyper::connect(srv.addr, proto, None).await.unwrap();
        let res = bounded(30, "panic", c.send(c.request("GET", "/panic", empty())))
            .await
            .unwrap();
        assert_eq!(res.status(), 500, "{proto:?}");
        let _ = res.into_body().collect().await;
        let res = bounded(30, "after panic", c.send(c.request("GET", "/ok", empty())))
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            200,
            "{proto:?}: the connection died with the handler"
        );
        task.abort();
    }
    let mut c = H3::connect(srv.addr, None).await.unwrap();
    assert_eq!(
        c.request("GET", "/panic", Bytes::new()).await.unwrap().0,
        500
    );
    assert_eq!(c.request("GET", "/ok", Bytes::new()).await.unwrap().0, 200);
    c.close().await;
    assert!(logs.text().contains("handler panicked"), "{}", logs.text());
    served_after(srv, "panics").await;
}
