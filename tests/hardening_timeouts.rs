#![allow(clippy::unwrap_used)]
//! Hardening against clients that hold a connection without finishing: Slowloris headers on
//! HTTP/1.1 and stalled TLS and QUIC handshakes are closed at their timeouts while a
//! well-behaved client is served.
//!
//! What every hardening test checks: `hardening/mod.rs`.

mod hardening;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardening::served_after;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use twinport_hyper::HttpConfig;
use twinport_quinn::QuicConfig;
use twinport_testkit::clients::{quic_first_flight, served, served_meanwhile, tls_connect};
use twinport_testkit::logs::Logs;
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::{bounded, eventually};

/// Attack: hundreds of HTTP/1.1 connections (over TLS) that send their headers a byte at a
/// time. The server must close each at the header read timeout (2 s here), not before a second
/// has passed, while a well-behaved client is served throughout.
#[tokio::test]
async fn slowloris_http1_is_closed_at_the_header_read_timeout() {
    let srv = start(Opts {
        http: HttpConfig::default().header_read_timeout(Duration::from_secs(2)),
        ..Opts::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let meanwhile = served_meanwhile(srv.addr, stop.clone());

    const N: usize = 200;
    let closed = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for _ in 0..N {
        let addr = srv.addr;
        let closed = closed.clone();
        attackers.push(tokio::spawn(async move {
            let mut tls = tls_connect(addr, &[b"http/1.1"], None).await.unwrap();
            let started = Instant::now();
            let request = b"GET /ok HTTP/1.1\r\nhost: localhost\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
            for (i, b) in request.iter().cycle().enumerate() {
                if i > 600 {
                    panic!("the slow client was never cut off");
                }
                if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Whatever the server said last (a 408, or nothing) the connection is over.
            let mut rest = Vec::new();
            let _ = bounded(10, "EOF after the cut", tls.read_to_end(&mut rest)).await;
            closed.fetch_add(1, Ordering::SeqCst);
            started.elapsed()
        }));
    }
    for a in attackers {
        let lived = bounded(120, "slowloris attacker", a).await.unwrap();
        assert!(
            lived >= Duration::from_secs(1),
            "a slow client was cut after {lived:?}, before the 2 s header read timeout"
        );
    }
    assert_eq!(closed.load(Ordering::SeqCst), N);
    stop.store(true, Ordering::SeqCst);
    let rounds = bounded(60, "well-behaved client", meanwhile).await.unwrap();
    assert!(rounds >= 1);
    served_after(srv, "slowloris").await;
}

/// Attack: TCP connections that start a TLS handshake (or send nothing) and never finish it,
/// and QUIC clients whose Initial reaches the server but who never answer. The server must
/// close both at the handshake timeout (2 s here) and keep serving.
#[tokio::test]
async fn stalled_tls_and_quic_handshakes_are_closed_at_the_handshake_timeout() {
    let logs = Logs::capture();
    let srv = start(Opts {
        handshake_timeout: Duration::from_secs(2),
        quic: QuicConfig::default().handshake_timeout(Duration::from_secs(2)),
        ..Opts::default()
    });
    // A real ClientHello's first bytes, then silence; and connections that send nothing.
    let flight = quic_first_flight().await;
    let mut tcp = Vec::new();
    for i in 0..100 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .unwrap();
        }
        tcp.push(s);
    }
    let mut udp = Vec::new();
    for _ in 0..20 {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for d in &flight {
            s.send_to(d, srv.addr).await.unwrap();
        }
        udp.push(s);
    }
    eventually("the server saw the stalled handshakes", || {
        srv.tcp() >= 100 && srv.quic() >= 1
    })
    .await;
    served(srv.addr, "during stalled handshakes").await;
    let started = Instant::now();
    // Both sides give up on their own; the attackers are still "there" (sockets open).
    srv.settles("stalled handshakes closed").await;
    for mut s in tcp {
        let mut buf = [0u8; 64];
        let n = bounded(10, "TCP closed", s.read(&mut buf))
            .await
            .unwrap_or(0);
        assert_eq!(n, 0, "the server answered a stalled handshake");
    }
    eprintln!(
        "stalled handshakes all closed {:?} after the check",
        started.elapsed()
    );
    served(srv.addr, "after stalled handshakes").await;
    let text = logs.text();
    assert!(text.contains("TLS handshake timed out"), "{text}");
    assert!(text.contains("QUIC handshake timed out"), "{text}");
    drop(udp);
    srv.stop().await;
}
