//! Nothing lost when the server closes: every close it chooses (shutdown, idle timeout, an
//! early answer to an upload) lingers, so the client's late bytes never make the kernel reset
//! the connection under a response the client has not read yet.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use twinport_hyper::{Http, HttpConfig};
use twinport_testkit::app::info::{expected_sha, pattern_bytes};
use twinport_testkit::{hex, serve_http, tls_connect, within, EagerH2, HttpServer, Pki};

/// Frames of 16 KiB in a stream window of 32 KiB: h2's client then grants credit again
/// after every DATA frame it reads, as several real clients do.
const WINDOW: u32 = 32 * 1024;

async fn tls_server(config: HttpConfig, grace: Duration) -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .config(config)
        .tls(&Pki::get().server_tls())
        .unwrap();
    serve_http(http, grace)
}

/// An HTTP/2 client (the h2 crate) that sends a WINDOW_UPDATE for each DATA frame it reads.
async fn eager_h2(server: &HttpServer) -> h2::client::SendRequest<Bytes> {
    let tls = tls_connect(server.addr(), &[b"h2"], None).await.unwrap();
    let (client, conn) = h2::client::Builder::new()
        .initial_window_size(WINDOW)
        .initial_connection_window_size(2 * WINDOW)
        .handshake(tls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// What became of one upload to `/echo`.
#[derive(Debug, PartialEq)]
enum Upload {
    /// The whole echo arrived; its SHA-256.
    Echoed(String),
    /// The server refused the stream before processing it (GOAWAY or REFUSED_STREAM).
    Refused,
    /// The response started and then broke.
    Broken { received: usize, error: String },
}

/// Uploads `len` bytes of the pattern to `/echo` and reads the echo back; tells `started`
/// when the response head arrived.
async fn upload(
    client: h2::client::SendRequest<Bytes>,
    len: usize,
    started: tokio::sync::mpsc::Sender<()>,
) -> Upload {
    let mut client = match client.ready().await {
        Ok(c) => c,
        Err(_) => return Upload::Refused,
    };
    let req = http::Request::post("https://localhost/echo")
        .body(())
        .unwrap();
    let (response, mut send) = match client.send_request(req, false) {
        Ok(r) => r,
        Err(_) => return Upload::Refused,
    };
    let sending = async move {
        let mut sent = 0;
        while sent < len {
            let n = (len - sent).min(16 * 1024);
            send.reserve_capacity(n);
            let granted = match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(granted)) => granted.min(n),
                _ => return,
            };
            let end = sent + granted == len;
            if send
                .send_data(pattern_bytes(sent as u64, granted), end)
                .is_err()
            {
                return;
            }
            sent += granted;
        }
    };
    let receiving = async move {
        let response = match response.await {
            Ok(r) => r,
            Err(e) if e.reason() == Some(h2::Reason::REFUSED_STREAM) || e.is_go_away() => {
                return Upload::Refused
            }
            Err(e) => {
                return Upload::Broken {
                    received: 0,
                    error: e.to_string(),
                }
            }
        };
        let _ = started.send(()).await;
        let mut body = response.into_body();
        let mut sha = Sha256::new();
        let mut received = 0;
        while let Some(chunk) = body.data().await {
            match chunk {
                Ok(chunk) => {
                    received += chunk.len();
                    sha.update(&chunk);
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                Err(e) => {
                    return Upload::Broken {
                        received,
                        error: e.to_string(),
                    }
                }
            }
        }
        Upload::Echoed(hex(&sha.finalize()))
    };
    tokio::join!(sending, receiving).1
}

fn pattern_sha(len: usize) -> String {
    hex(&Sha256::digest(pattern_bytes(0, len)))
}

/// Uploads in flight on HTTP/2 when the shutdown starts, from a client that grants credit
/// after every frame: each response whose head was sent arrives whole.
#[tokio::test]
async fn http2_uploads_in_flight_at_shutdown_arrive_whole() {
    const CONNECTIONS: usize = 5;
    const PER_CONNECTION: usize = 6;
    const LEN: usize = 2 * 1024 * 1024;
    let mut server = tls_server(HttpConfig::default(), Duration::from_secs(20)).await;
    let (started_tx, mut started) = tokio::sync::mpsc::channel(CONNECTIONS * PER_CONNECTION);
    let mut uploads = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = eager_h2(&server).await;
        for _ in 0..PER_CONNECTION {
            uploads.push(tokio::spawn(upload(
                client.clone(),
                LEN,
                started_tx.clone(),
            )));
        }
    }
    for _ in 0..CONNECTIONS * PER_CONNECTION {
        within(started.recv()).await.unwrap();
    }
    server.begin_shutdown();
    let expected = pattern_sha(LEN);
    let mut lost = Vec::new();
    for u in uploads {
        match within(u).await.unwrap() {
            Upload::Echoed(sha) if sha == expected => {}
            other => lost.push(other),
        }
    }
    let report = server.join().await;
    assert!(
        lost.is_empty(),
        "{} of {} lost: {lost:?}",
        lost.len(),
        CONNECTIONS * PER_CONNECTION
    );
    assert_eq!(report.cut, 0);
}

/// Large responses in flight on HTTP/2 when the shutdown starts, to a client that sends a
/// WINDOW_UPDATE after every DATA frame: each stream the GOAWAY let through arrives whole.
#[tokio::test]
async fn http2_responses_in_flight_at_shutdown_arrive_whole() {
    const CONNECTIONS: usize = 5;
    const STREAMS: usize = 10;
    const LEN: u64 = 4 * 1024 * 1024;
    let mut server = tls_server(HttpConfig::default(), Duration::from_secs(20)).await;
    let (heads_tx, mut heads) = tokio::sync::mpsc::unbounded_channel();
    let path = format!("/download?n={LEN}");
    let runs: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let client = EagerH2::get(vec![path.clone(); STREAMS]);
            tokio::spawn(client.run(server.addr(), heads_tx.clone()))
        })
        .collect();
    for _ in 0..CONNECTIONS * STREAMS {
        within(heads.recv()).await.unwrap();
    }
    server.begin_shutdown();
    let expected = expected_sha(LEN);
    let mut lost = Vec::new();
    for run in runs {
        for end in within(run).await.unwrap() {
            if end.refused || end.complete && end.sha256 == expected {
                continue;
            }
            lost.push(end);
        }
    }
    let report = server.join().await;
    assert!(
        lost.is_empty(),
        "{} of {} lost: {lost:#?}",
        lost.len(),
        CONNECTIONS * STREAMS
    );
    assert_eq!(report.cut, 0);
}
