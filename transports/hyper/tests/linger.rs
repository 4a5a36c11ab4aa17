//! Nothing lost when the server closes: every close it chooses (shutdown, idle timeout, an
//! early answer to an upload) lingers, so the client's late bytes never make the kernel reset
//! the connection under a response the client has not read yet.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinport_hyper::{Http, HttpConfig};
use twinport_testkit::apps::hex;
use twinport_testkit::apps::info::{expected_sha, pattern_bytes};
use twinport_testkit::clients::{tls_connect, Hyper, Proto};
use twinport_testkit::peers::{require, run};
use twinport_testkit::pki::PemFiles;
use twinport_testkit::raw::EagerH2;
use twinport_testkit::servers::{serve_http, HttpServer};
use twinport_testkit::sys::RssWatch;
use twinport_testkit::{within, Pki, TempDir};

/// Long enough for every response in flight, on a loaded 2-core machine in a debug build.
const GRACE: Duration = Duration::from_secs(50);

async fn tls_server(config: HttpConfig, grace: Duration) -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(config)
        .tls(&Pki::get().server_tls())
        .unwrap();
    serve_http(http, grace)
}

/// 50 uploads of 4 MiB on 5 HTTP/2 connections, each echoed back, from a client that sends
/// a WINDOW_UPDATE after every DATA frame; the shutdown starts once every echo has begun:
/// each echo whose head was sent arrives whole, or the stream was refused by GOAWAY.
#[tokio::test]
async fn http2_echoes_in_flight_at_shutdown_arrive_whole() {
    const LEN: usize = 4 * 1024 * 1024;
    let client = || EagerH2::post("/echo", LEN, STREAMS);
    shutdown_mid_flight(client, &expected_sha(LEN as u64)).await;
}

/// Large responses in flight on HTTP/2 when the shutdown starts, to a client that sends a
/// WINDOW_UPDATE after every DATA frame: each stream the GOAWAY let through arrives whole.
#[tokio::test]
async fn http2_responses_in_flight_at_shutdown_arrive_whole() {
    const LEN: u64 = 2 * 1024 * 1024;
    let path = format!("/download?n={LEN}");
    let client = || EagerH2::get(vec![path.clone(); STREAMS]);
    shutdown_mid_flight(client, &expected_sha(LEN)).await;
}

const CONNECTIONS: usize = 5;
const STREAMS: usize = 10;

/// Runs `client` on [`CONNECTIONS`] connections, starts the shutdown once every response
/// head arrived, and requires each stream to end whole (body digest `expected`) or refused.
async fn shutdown_mid_flight(client: impl Fn() -> EagerH2, expected: &str) {
    let mut server = tls_server(HttpConfig::default(), GRACE).await;
    let (heads_tx, mut heads) = tokio::sync::mpsc::unbounded_channel();
    let runs: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(client().run(server.addr(), heads_tx.clone())))
        .collect();
    for _ in 0..CONNECTIONS * STREAMS {
        within(heads.recv()).await.unwrap();
    }
    server.begin_shutdown();
    let mut lost = Vec::new();
    for run in runs {
        for end in within(run).await.unwrap() {
            if !(end.refused || end.complete && end.sha256 == expected) {
                lost.push(end);
            }
        }
    }
    let report = server.join().await;
    assert_eq!(report.cut, 0, "the grace period ran out on this machine");
    assert!(
        lost.is_empty(),
        "{} of {} lost: {lost:#?}",
        lost.len(),
        CONNECTIONS * STREAMS
    );
}

/// The idle timeout starts a graceful close while a handler is still working; the large
/// response it then sends arrives whole at a client granting credit per frame.
#[tokio::test]
async fn http2_response_after_an_idle_close_arrives_whole() {
    const LEN: u64 = 4 * 1024 * 1024;
    let config = HttpConfig::default().idle_timeout(Duration::from_millis(300));
    let server = tls_server(config, Duration::from_secs(5)).await;
    let (heads, _) = tokio::sync::mpsc::unbounded_channel();
    let client = EagerH2::get([format!("/download?n={LEN}&after_ms=1500")]);
    let ends = within(client.run(server.addr(), heads)).await;
    let expected = expected_sha(LEN);
    assert!(
        ends.iter().all(|e| e.complete && e.sha256 == expected),
        "{ends:#?}"
    );
    assert_eq!(server.stop().await.cut, 0);
}

/// curl runs with the CA of the test PKI against `server`, as `localhost`.
fn curl_args(files: &PemFiles, server: &HttpServer, path: &str) -> Vec<String> {
    let port = server.addr().port();
    vec![
        "--silent".into(),
        "--show-error".into(),
        "--max-time".into(),
        "60".into(),
        "--cacert".into(),
        files.ca().display().to_string(),
        "--resolve".into(),
        format!("localhost:{port}:127.0.0.1"),
        format!("https://localhost:{port}{path}"),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// An HTTP/1.1 upload of 64 MiB refused with an early `413`: curl shows the `413`, not a
/// reset, however much of the upload was still on its way.
#[tokio::test]
async fn http1_early_413_during_a_large_upload_reaches_curl() {
    let Some(curl) = require("curl") else { return };
    let server = tls_server(HttpConfig::default(), Duration::from_secs(5)).await;
    let files = Pki::get().write_files();
    let upload = TempDir::new("upload");
    let big = upload.path("big");
    std::fs::write(&big, vec![7u8; 64 * 1024 * 1024]).unwrap();
    for _ in 0..5 {
        let mut args = curl_args(&files, &server, "/small-upload");
        args.extend([
            "--http1.1".into(),
            // Without `Expect: 100-continue`, curl sends the body before any answer.
            "--header".into(),
            "Expect:".into(),
            "--data-binary".into(),
            format!("@{}", big.display()),
            "--write-out".into(),
            "%{http_code}".into(),
            "--output".into(),
            "/dev/null".into(),
        ]);
        let out = run(&curl, &strs(&args)).await;
        assert_eq!(out.stdout, "413", "{out:?}");
    }
    assert_eq!(server.stop().await.cut, 0);
}

/// Uploads from curl over HTTP/2, in flight when the shutdown starts: every echo arrives
/// whole and curl exits cleanly.
#[tokio::test]
async fn curl_http2_uploads_in_flight_at_shutdown_arrive_whole() {
    const UPLOADS: usize = 8;
    let Some(curl) = require("curl") else { return };
    let mut server = tls_server(HttpConfig::default(), Duration::from_secs(20)).await;
    let files = Pki::get().write_files();
    let dir = TempDir::new("uploads");
    let input = dir.path("in");
    let body = pattern_bytes(0, 4 * 1024 * 1024);
    std::fs::write(&input, &body).unwrap();
    let runs: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let mut args = curl_args(&files, &server, "/echo");
            // Slow enough that the shutdown lands mid-upload: 4 MiB at 2 MiB/s.
            args.extend([
                "--http2".into(),
                "--limit-rate".into(),
                "2M".into(),
                "--data-binary".into(),
                format!("@{}", input.display()),
                "--output".into(),
                dir.path(&format!("out{i}")).display().to_string(),
            ]);
            let curl = curl.clone();
            tokio::spawn(async move { run(&curl, &strs(&args)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.begin_shutdown();
    let expected = hex(&Sha256::digest(&body));
    for (i, curl_run) in runs.into_iter().enumerate() {
        let out = within(curl_run).await.unwrap();
        assert!(out.success, "upload {i}: {out:?}");
        let echoed = std::fs::read(dir.path(&format!("out{i}"))).unwrap();
        assert_eq!(echoed.len(), body.len(), "upload {i}");
        assert_eq!(hex(&Sha256::digest(&echoed)), expected, "upload {i}");
    }
    assert_eq!(server.join().await.cut, 0);
}

/// A client that keeps sending after the server closed (a refused upload that never stops)
/// is cut at the total lingering time, with bounded memory, while another client is served.
#[tokio::test]
async fn a_client_that_never_stops_sending_is_cut_at_the_lingering_time() {
    let config = HttpConfig::default()
        .lingering_time(Duration::from_secs(2))
        .lingering_max_bytes(u64::MAX);
    let server = tls_server(config, Duration::from_secs(5)).await;
    let rss = RssWatch::start();
    let mut tls = tls_connect(server.addr(), &[b"http/1.1"], None)
        .await
        .unwrap();
    let head =
        "POST /small-upload HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100000000000\r\n\r\n";
    tls.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let started = Instant::now();
    let flood = tokio::spawn(async move {
        let chunk = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while wr.write_all(&chunk).await.is_ok() {
            sent += chunk.len() as u64;
        }
        (sent, started.elapsed())
    });
    let mut response = Vec::new();
    let _ = within(rd.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    // Meanwhile, another client is served.
    let mut good = Hyper::connect(server.addr(), Proto::H1, None)
        .await
        .unwrap()
        .0;
    assert_eq!(good.get_json("/info").await["version"], "HTTP/1.1");
    let (sent, cut_after) = within(flood).await.unwrap();
    let growth = rss.peak_growth_kib();
    assert!(
        cut_after >= Duration::from_secs(2) && cut_after < Duration::from_secs(6),
        "cut after {cut_after:?}"
    );
    assert!(sent > 8 * 1024 * 1024, "only {sent} bytes were sent");
    assert!(growth < 32 * 1024, "RSS grew {growth} KiB");
    assert_eq!(server.stop().await.cut, 0);
}

/// A client that neither sends nor closes after the server's close is still lingering when
/// a short grace period ends: the drain report counts it apart from the connections cut with
/// responses in flight.
#[tokio::test]
async fn the_drain_report_counts_connections_still_lingering() {
    let config = HttpConfig::default().lingering_timeout(Duration::from_secs(30));
    let server = tls_server(config, Duration::from_millis(500)).await;
    let mut silent = tls_connect(server.addr(), &[b"http/1.1"], None)
        .await
        .unwrap();
    silent
        .write_all(b"GET /info HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    silent.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let report = server.stop().await;
    assert_eq!((report.cut, report.lingering), (0, 1), "{report:?}");
    drop(silent);
}
