#![allow(clippy::unwrap_used)]
//! Peers that stop reading: a connection (TCP) or a response (QUIC) whose client takes no
//! more bytes is cut at the write-stall timeout, the memory it held comes back, and a
//! well-behaved client is served throughout. A slow client that still reads is not cut.
//!
//! Its own test binary, and one test at a time, so that the RSS readings are this test's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::Mutex;
use twinport_hyper::HttpConfig;
use twinport_quinn::{quinn, Http3Config};
use twinport_testkit::clients::{served, served_meanwhile, tls_connect, H3};
use twinport_testkit::frames::{
    h2_frame, h2_read, END_HEADERS, END_STREAM, H2_GOAWAY, H2_HEADERS, H2_PREFACE, H2_SETTINGS,
};
use twinport_testkit::servers::{start, Opts, Srv};
use twinport_testkit::sys::rss_kib;
use twinport_testkit::{bounded, eventually, Pki};

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// HTTP/2 WINDOW_UPDATE.
const H2_WINDOW_UPDATE: u8 = 0x8;

/// The write-stall timeout of these tests' servers.
const STALL: Duration = Duration::from_secs(2);

/// One test at a time: RSS is the whole process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn stall_opts() -> Opts {
    Opts {
        http: HttpConfig::default().write_stall_timeout(STALL),
        h3: Http3Config::default().write_stall_timeout(STALL),
        ..Opts::default()
    }
}

/// A TLS connection over a socket with a 4 KiB receive buffer, so a client that stops
/// reading closes its TCP window quickly.
async fn small_window_tls(srv: &Srv, alpn: &[u8]) -> Tls {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(srv.addr).await.unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(Arc::new(Pki::get().client_tls(&[alpn], None)));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    bounded(30, "TLS handshake", connector.connect(name, tcp))
        .await
        .unwrap()
}

/// `GET https://localhost/download` as an HPACK header block.
fn hpack_get_download() -> Vec<u8> {
    let mut b = vec![0x82, 0x87, 0x04, 9];
    b.extend_from_slice(b"/download");
    b.push(0x01);
    b.push(9);
    b.extend_from_slice(b"localhost");
    b
}

/// An HTTP/2 connection that opens its flow-control windows as wide as they go, sends
/// `streams` requests for endless downloads and then never reads again.
async fn h2_stop_reading(srv: &Srv, streams: u32) -> Tls {
    let mut tls = small_window_tls(srv, b"h2").await;
    let max_window: u32 = 0x7fff_ffff;
    let mut settings = Vec::new();
    settings.extend_from_slice(&0x4u16.to_be_bytes()); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.extend_from_slice(&max_window.to_be_bytes());
    tls.write_all(H2_PREFACE).await.unwrap();
    tls.write_all(&h2_frame(H2_SETTINGS, 0, 0, &settings))
        .await
        .unwrap();
    let grow = max_window - 65_535;
    tls.write_all(&h2_frame(H2_WINDOW_UPDATE, 0, 0, &grow.to_be_bytes()))
        .await
        .unwrap();
    // The server's SETTINGS first, acknowledged, as a real client would.
    loop {
        let (ty, flags, _, _) = bounded(30, "server SETTINGS", h2_read(&mut tls))
            .await
            .unwrap();
        if ty == H2_SETTINGS && flags & 0x1 == 0 {
            break;
        }
    }
    tls.write_all(&h2_frame(H2_SETTINGS, 0x1, 0, &[]))
        .await
        .unwrap();
    let block = hpack_get_download();
    for i in 0..streams {
        tls.write_all(&h2_frame(
            H2_HEADERS,
            END_STREAM | END_HEADERS,
            1 + 2 * i,
            &block,
        ))
        .await
        .unwrap();
    }
    tls.flush().await.unwrap();
    tls
}

/// An HTTP/1.1 connection that asks for an endless download and then never reads.
async fn h1_stop_reading(srv: &Srv) -> Tls {
    let mut tls = small_window_tls(srv, b"http/1.1").await;
    tls.write_all(b"GET /download HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    tls
}

/// Waits until `n` downloads have started and the server has had time to fill every buffer
/// it has for them; returns the RSS then.
async fn stalled(srv: &Srv, started_before: usize, n: usize) -> u64 {
    eventually("every download started", || {
        srv.stats.download_started.load(Ordering::SeqCst) >= started_before + n
    })
    .await;
    tokio::time::sleep(STALL / 2).await;
    rss_kib()
}

/// Waits (bounded) until the server holds no connection of `proto`'s transport and no
/// response body; returns how long that took.
async fn cut(srv: &Srv, what: &str, tcp: bool) -> Duration {
    let start = Instant::now();
    let limit = STALL * 4 + Duration::from_secs(5);
    while (tcp && srv.tcp() != 0) || srv.stats.live() != 0 {
        assert!(
            start.elapsed() < limit,
            "{what}: not cut within {limit:?} (tcp connections {}, response bodies alive {})",
            srv.tcp(),
            srv.stats.live()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// Attack (as reported): three HTTP/2 connections with their windows opened wide, 128
/// endless downloads each, and one HTTP/1.1 connection with a 4 KiB receive buffer, none of
/// which ever read again. Each must be cut at the write-stall timeout, while a well-behaved
/// client is served on every protocol. Three rounds of it cost the memory of one: what a cut
/// connection held is freed and reused (glibc keeps freed heap pages mapped, so RSS after a
/// cut shows reuse, not an immediate drop).
#[tokio::test]
async fn tcp_clients_that_stop_reading_are_cut_at_the_write_stall_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = start(stall_opts());
    served(srv.addr, "before the attack").await;
    let rss_before = rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let good = served_meanwhile(srv.addr, stop.clone());

    let mut rounds = Vec::new();
    for _ in 0..3 {
        let started = srv.stats.download_started.load(Ordering::SeqCst);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(h2_stop_reading(&srv, 128).await);
        }
        held.push(h1_stop_reading(&srv).await);
        let rss_stalled = stalled(&srv, started, 3 * 128 + 1).await;
        // (Plus, now and then, the well-behaved client's own connection.)
        assert!(
            srv.tcp() >= 4,
            "the stalled connections are open while stalled"
        );
        let took = cut(&srv, "TCP clients that stopped reading", true).await;
        rounds.push((rss_stalled, took, rss_kib()));
        drop(held);
    }

    stop.store(true, Ordering::SeqCst);
    let good_rounds = bounded(60, "the well-behaved client", good).await.unwrap();
    eprintln!(
        "stalled readers: RSS before {rss_before} KiB; per round (stalled KiB, cut after, \
         after cut KiB): {rounds:?}; well-behaved client rounds: {good_rounds}"
    );
    assert!(good_rounds > 0, "the well-behaved client never got through");
    let first = rounds[0].0.saturating_sub(rss_before);
    assert!(
        first > 8 * 1024,
        "the attack should have held memory (RSS {rss_before} -> {} KiB)",
        rounds[0].0
    );
    let last = rounds[2].2.saturating_sub(rss_before);
    assert!(
        last < first + first / 2,
        "memory was not given back: one round held {first} KiB, three rounds {last} KiB"
    );
    served(srv.addr, "after the attack").await;
    srv.stop().await;
}

/// A client that keeps reading (64 KiB every 20 ms, for three times the stall timeout) keeps
/// its download: the timeout measures progress, not the length of a response.
#[tokio::test]
async fn a_client_that_keeps_reading_is_not_cut() {
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = start(stall_opts());
    let mut tls = tls_connect(srv.addr, &[b"http/1.1"], None).await.unwrap();
    tls.write_all(b"GET /download HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let begin = Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    while begin.elapsed() < STALL * 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = bounded(10, "a read", tls.read(&mut buf)).await.unwrap();
        assert!(n > 0, "the server closed a connection that was being read");
        got += n;
    }
    assert_eq!(srv.tcp(), 1, "the reader's connection is still open");
    eprintln!("steady reader: {got} bytes in {:?}", begin.elapsed());
    drop(tls);
    srv.settles("reader gone").await;
    srv.stop().await;
}

/// Attack: an HTTP/2 client that grants no flow-control credit at all (initial window 0) and
/// then falls silent. The idle timeout starts a graceful close, which can never finish its
/// responses; the close must have a deadline of its own.
#[tokio::test]
async fn an_idle_close_that_cannot_finish_is_cut_at_its_deadline() {
    let _one = ONE_AT_A_TIME.lock().await;
    let idle = Duration::from_secs(1);
    let srv = start(Opts {
        http: HttpConfig::default()
            .idle_timeout(idle)
            .idle_close_timeout(Duration::from_secs(1)),
        ..Opts::default()
    });
    let mut tls = tls_connect(srv.addr, &[b"h2"], None).await.unwrap();
    let mut settings = Vec::new();
    settings.extend_from_slice(&0x4u16.to_be_bytes());
    settings.extend_from_slice(&0u32.to_be_bytes());
    tls.write_all(H2_PREFACE).await.unwrap();
    tls.write_all(&h2_frame(H2_SETTINGS, 0, 0, &settings))
        .await
        .unwrap();
    tls.write_all(&h2_frame(H2_SETTINGS, 0x1, 0, &[]))
        .await
        .unwrap();
    tls.write_all(&h2_frame(
        H2_HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &hpack_get_download(),
    ))
    .await
    .unwrap();
    // Read what the server sends (SETTINGS, the response head, later GOAWAY) so that only
    // flow control holds the response back; stop at the end of the connection.
    let reader = tokio::spawn(async move {
        let mut kinds = Vec::new();
        while let Some((ty, _, _, _)) = h2_read(&mut tls).await {
            kinds.push(ty);
        }
        kinds
    });
    let begin = Instant::now();
    let kinds = bounded(30, "the server ends the connection", reader)
        .await
        .unwrap();
    let took = begin.elapsed();
    eprintln!("no-credit client: cut after {took:?}; frames {kinds:?}");
    assert!(
        kinds.contains(&H2_GOAWAY),
        "no GOAWAY before the cut: {kinds:?}"
    );
    assert!(
        took >= idle,
        "cut before the idle timeout had even passed ({took:?})"
    );
    srv.settles("no-credit connection cut").await;
    served(srv.addr, "after the no-credit client").await;
    srv.stop().await;
}

/// Attack: an HTTP/3 client that grants 64 KiB of credit per stream, asks for 32 endless
/// downloads and never reads them. Each response must be reset with H3_REQUEST_CANCELLED at
/// the write-stall timeout and its body dropped, its memory given back, while the connection
/// itself and a well-behaved client go on.
#[tokio::test]
async fn http3_responses_the_client_never_reads_are_reset_at_the_write_stall_timeout() {
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = start(stall_opts());
    served(srv.addr, "before the attack").await;
    let rss_before = rss_kib();
    let started = srv.stats.download_started.load(Ordering::SeqCst);

    let mut config = Pki::get().quic_client(None);
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(quinn::VarInt::from_u32(64 * 1024))
        .receive_window(quinn::VarInt::from_u32(32 * 64 * 1024));
    config.transport_config(Arc::new(transport));
    let H3 {
        endpoint,
        conn,
        mut send,
        driver,
    } = H3::connect_with(srv.addr, config).await.unwrap();
    let mut streams = Vec::new();
    for _ in 0..32 {
        let req = http::Request::get("https://localhost/download")
            .body(())
            .unwrap();
        let mut s = send.send_request(req).await.unwrap();
        s.finish().await.unwrap();
        let head = bounded(30, "response head", s.recv_response())
            .await
            .unwrap();
        assert_eq!(head.status(), 200);
        streams.push(s);
    }
    let rss_stalled = stalled(&srv, started, 32).await;
    let took = cut(&srv, "HTTP/3 responses nobody reads", false).await;
    served(srv.addr, "while the HTTP/3 client holds its streams").await;

    // What the client sees: the data it had credit for, then the reset.
    let mut s = streams.pop().unwrap();
    let end = loop {
        match bounded(30, "reading a reset response", s.recv_data()).await {
            Ok(Some(_)) => continue,
            other => break other.map(|d| d.is_some()),
        }
    };
    let error = end
        .expect_err("the stalled response ended cleanly")
        .to_string();
    eprintln!(
        "stalled HTTP/3 reader: reset {took:?} after the buffers filled; the client saw: {error}"
    );
    assert!(
        error.contains("H3_REQUEST_CANCELLED") || error.contains("268"),
        "the client should see H3_REQUEST_CANCELLED, saw: {error}"
    );
    assert!(
        conn.close_reason().is_none(),
        "the connection itself goes on"
    );
    drop(streams);
    drop(s);
    conn.close(0u32.into(), b"done");
    driver.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    srv.settles("HTTP/3 reader gone").await;
    // Client and server share this process: the reading is taken once both let go.
    let rss_after = rss_kib();
    eprintln!(
        "stalled HTTP/3 reader: RSS {rss_before} -> {rss_stalled} (stalled) -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 8 * 1024,
        "memory did not come back: RSS {rss_before} -> {rss_stalled} -> {rss_after} KiB"
    );
    srv.stop().await;
}
