#![allow(clippy::unwrap_used)]
//! Hardening at the limits: oversized headers on every protocol, HTTP/3 stream exhaustion and
//! the TCP connection cap.
//!
//! What every hardening test checks: `hardening/mod.rs`.

mod hardening;

use std::sync::atomic::Ordering;
use std::time::Duration;

use hardening::{kill, served_after};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinport_hyper::HttpConfig;
use twinport_quinn::{Http3Config, QuicConfig};
use twinport_testkit::bounded;
use twinport_testkit::clients::{empty, fetch, quic_raw, served, tls_connect, Hyper, Proto, H3};
use twinport_testkit::frames::{h3_headers_frame, says_431};
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::sys::rss_kib;

/// Attack: request headers over the limit on each protocol. HTTP/1.1: too many fields, and
/// one field of 1 MiB; HTTP/2: a 64 KiB field against the 32 KiB header list limit; HTTP/3: a
/// QPACK field section of 128 KiB against the 64 KiB limit (sent raw: h3's client refuses to).
/// The server must answer 431 (or reset the stream); normal requests keep working.
#[tokio::test]
async fn oversized_headers_get_431_on_every_protocol() {
    let srv = start(Opts::default());

    // HTTP/1.1: 200 fields (limit 100) and one 1 MiB field.
    for (what, head) in [
        (
            "200 fields",
            (0..200)
                .map(|i| format!("x-{i}: v\r\n"))
                .collect::<String>(),
        ),
        (
            "a 1 MiB field",
            format!("x-big: {}\r\n", "a".repeat(1 << 20)),
        ),
    ] {
        let mut tls = tls_connect(srv.addr, &[b"http/1.1"], None).await.unwrap();
        let req = format!("GET /ok HTTP/1.1\r\nhost: localhost\r\n{head}\r\n");
        let _ = tls.write_all(req.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = bounded(30, "HTTP/1.1 answer", tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 431"), "{what}: {answer:?}");
        drop(tls);
        srv.settles(&format!("HTTP/1.1 {what}: connection closed"))
            .await;
    }

    // HTTP/2 through hyper's client: 431, and the connection stays usable.
    let (mut h2, task, socket) = Hyper::connect_killable(srv.addr, Proto::H2).await;
    let mut req = h2.request("GET", "/ok", empty());
    req.headers_mut()
        .insert("x-big", "a".repeat(64 * 1024).parse().unwrap());
    let res = bounded(30, "HTTP/2 431", h2.send(req)).await;
    match res {
        Ok(res) => assert_eq!(res.status(), 431),
        Err(e) => panic!("HTTP/2: expected a 431, got {e}"),
    }
    let ok = bounded(
        30,
        "HTTP/2 after 431",
        h2.send(h2.request("GET", "/ok", empty())),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    // hyper's client keeps its HTTP/2 connection in a task of its own: close the socket.
    drop(h2);
    kill(socket, task);
    srv.settles("HTTP/2 431: connection closed").await;

    // HTTP/3, raw: a HEADERS frame whose field section is 128 KiB.
    let (endpoint, conn) = quic_raw(srv.addr).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let big = vec![b'a'; 128 * 1024];
    let frame = h3_headers_frame(&[("x-big", &big)]);
    let _ = send.write_all(&frame).await;
    let _ = send.finish();
    let mut answer = Vec::new();
    let outcome = bounded(30, "HTTP/3 answer", async {
        let mut buf = vec![0u8; 4096];
        loop {
            match recv.read(&mut buf).await {
                Ok(Some(n)) => answer.extend_from_slice(&buf[..n]),
                Ok(None) => return "finished".to_string(),
                Err(e) => return format!("error: {e}"),
            }
        }
    })
    .await;
    eprintln!(
        "HTTP/3 oversized: {outcome}, {} bytes: {answer:02x?}",
        answer.len()
    );
    assert!(
        says_431(&answer) || outcome.contains("reset"),
        "HTTP/3: no 431 and no reset: {outcome} {answer:02x?}"
    );
    conn.close(0u32.into(), b"");
    endpoint.wait_idle().await;

    served_after(srv, "oversized headers").await;
}

/// Attack: one HTTP/3 connection with far more concurrent requests than allowed (8 here),
/// all to a slow handler, plus streams opened and left without headers. The server must hold
/// the client back with QUIC stream credit: never more than 8 handlers run at once, and
/// memory stays flat; every request still completes; the silent streams are dropped at the
/// request header timeout.
#[tokio::test]
async fn http3_stream_exhaustion_is_held_back_by_flow_control() {
    let limit = 8;
    let srv = start(Opts {
        quic: QuicConfig::default().max_concurrent_bidi_streams(limit),
        h3: Http3Config::default()
            .max_concurrent_requests(limit)
            .request_header_timeout(Duration::from_secs(2)),
        ..Opts::default()
    });
    let rss_before = rss_kib();
    let client = H3::connect(srv.addr, None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..(limit * 10) {
        let mut send = client.send.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::get("https://localhost/slow?ms=200")
                .body(())
                .unwrap();
            let mut s = send.send_request(req).await.map_err(|e| e.to_string())?;
            s.finish().await.map_err(|e| e.to_string())?;
            let head = s.recv_response().await.map_err(|e| e.to_string())?;
            while s.recv_data().await.map_err(|e| e.to_string())?.is_some() {}
            Ok::<_, String>(head.status().as_u16())
        }));
    }
    for t in tasks {
        assert_eq!(bounded(120, "a queued request", t).await.unwrap(), Ok(200));
    }
    let max = srv.stats.max_live.load(Ordering::SeqCst);
    assert!(
        max <= limit as usize,
        "{max} handlers ran at once, limit {limit}"
    );

    // Silent streams: opened (one byte of a frame type), never completed.
    let (endpoint, conn) = quic_raw(srv.addr).await;
    let mut silent = Vec::new();
    for _ in 0..limit {
        let (mut s, r) = conn.open_bi().await.unwrap();
        s.write_all(&[0x01]).await.unwrap();
        silent.push((s, r));
    }
    served(srv.addr, "while one connection holds every stream").await;
    for (_, mut r) in silent {
        let mut buf = [0u8; 16];
        let end = bounded(30, "silent stream dropped", r.read(&mut buf)).await;
        assert!(
            !matches!(end, Ok(Some(_))),
            "the server answered a stream without headers"
        );
    }
    conn.close(0u32.into(), b"");
    endpoint.wait_idle().await;
    client.close().await;
    let rss_after = rss_kib();
    eprintln!("stream exhaustion: max live {max}, RSS {rss_before} -> {rss_after} KiB");
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew by more than 64 MiB"
    );
    served_after(srv, "stream exhaustion").await;
}

/// Attack: more TCP connections than `max_connections` (16 here). The server must not take
/// more: the rest wait in the listen backlog (queued, their handshake does not start) and are
/// served as soon as a slot frees; HTTP/3 is unaffected meanwhile.
#[tokio::test]
async fn connection_cap_queues_the_excess() {
    let cap = 16;
    let srv = start(Opts {
        http: HttpConfig::default().max_connections(cap),
        ..Opts::default()
    });
    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(Hyper::connect(srv.addr, Proto::H2, None).await.unwrap());
    }
    assert_eq!(srv.tcp(), cap);
    // Past the cap: the TCP connect succeeds (kernel backlog), TLS does not progress.
    let mut queued = Vec::new();
    for _ in 0..32 {
        let addr = srv.addr;
        queued.push(tokio::spawn(async move {
            fetch(addr, Proto::H2, "GET", "/ok", None).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        srv.tcp() <= cap,
        "{} connections over a cap of {cap}",
        srv.tcp()
    );
    assert!(
        queued.iter().all(|q| !q.is_finished()),
        "a connection past the cap was served"
    );
    let got = fetch(srv.addr, Proto::H3, "GET", "/ok", None)
        .await
        .unwrap();
    assert_eq!(got.0, 200, "HTTP/3 is not limited by the TCP cap");
    // Free the slots: every queued client is served in turn.
    for (_, task) in held.drain(..) {
        task.abort();
    }
    for q in queued {
        let got = bounded(60, "a queued client", q).await.unwrap();
        assert_eq!(got.unwrap().0, 200);
        assert!(srv.tcp() <= cap);
    }
    served_after(srv, "the connection cap").await;
}
