//! A graceful shutdown under load: uploads in flight when the drain starts all complete
//! within the grace period, each answered with the digest of exactly what was sent, and
//! nothing is cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use tokio::sync::watch;
use tower::ServiceExt;
use twinport_quinn::{Http3, RecvBody};
use twinport_testkit::apps::info::{expected_sha, pattern_bytes, CHUNK};
use twinport_testkit::clients::{read_reply, uri, Reply, SendRequest, H3};
use twinport_testkit::servers::serve_http3_with;
use twinport_testkit::{bounded, Pki};

const CONNECTIONS: usize = 10;
const UPLOADS_PER_CONNECTION: usize = 10;
/// The size of each upload; half of it is sent before the drain starts.
const SIZE: u64 = 1024 * 1024;
const GRACE: Duration = Duration::from_secs(30);

/// POSTs `body` to `/upload` in [`CHUNK`]s: the first half at once, the rest once `go`
/// says so. The reply.
async fn upload(
    mut send: SendRequest,
    body: Bytes,
    mut go: watch::Receiver<bool>,
) -> Result<Reply, String> {
    let req = Request::post(uri("/upload")).body(()).unwrap();
    let mut stream = send.send_request(req).await.map_err(|e| e.to_string())?;
    for start in (0..body.len()).step_by(CHUNK) {
        if start == body.len() / 2 {
            go.wait_for(|go| *go).await.map_err(|e| e.to_string())?;
        }
        let chunk = body.slice(start..body.len().min(start + CHUNK));
        stream.send_data(chunk).await.map_err(|e| e.to_string())?;
    }
    stream.finish().await.map_err(|e| e.to_string())?;
    read_reply(&mut stream).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_in_flight_when_the_drain_starts_all_complete() {
    let started = Arc::new(AtomicUsize::new(0));
    let service = {
        let started = started.clone();
        let info = twinport_testkit::apps::info::router();
        tower::service_fn(move |req: Request<RecvBody>| {
            started.fetch_add(1, Ordering::SeqCst);
            info.clone().oneshot(req)
        })
    };
    let endpoint = Http3::bind("127.0.0.1:0".parse().unwrap(), &Pki::get().server_tls()).unwrap();
    let server = serve_http3_with(endpoint, service);
    let body = pattern_bytes(0, SIZE as usize);
    let (go_tx, go) = watch::channel(false);
    let mut clients = Vec::new();
    let mut uploads = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = H3::connect(server.addr, None).await.unwrap();
        for _ in 0..UPLOADS_PER_CONNECTION {
            let upload = upload(client.send.clone(), body.clone(), go.clone());
            uploads.push(tokio::spawn(upload));
        }
        clients.push(client);
    }
    let total = CONNECTIONS * UPLOADS_PER_CONNECTION;
    bounded(60, "every upload to reach its handler", async {
        while started.load(Ordering::SeqCst) < total {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let draining = Instant::now();
    server.trigger.shutdown(GRACE);
    // The GOAWAY goes out before the rest of the bodies.
    tokio::time::sleep(Duration::from_millis(100)).await;
    go_tx.send(true).unwrap();
    let expected = expected_sha(SIZE);
    for (i, upload) in uploads.into_iter().enumerate() {
        let reply = bounded(GRACE.as_secs() + 10, "an upload", upload)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("upload {i} failed: {e}"));
        assert_eq!(reply.status, StatusCode::OK, "upload {i}: {}", reply.text());
        let json = reply.json();
        assert_eq!(json["len"], SIZE, "upload {i}");
        assert_eq!(json["sha256"], expected.as_str(), "upload {i}");
    }
    let report = bounded(GRACE.as_secs() + 10, "the server to stop", server.task)
        .await
        .unwrap()
        .unwrap();
    let took = draining.elapsed();
    eprintln!(
        "{total} uploads of {} KiB on {CONNECTIONS} connections drained in {took:?}",
        SIZE / 1024
    );
    assert_eq!(report.cut, 0, "connections cut at the deadline");
    assert!(took < GRACE, "the drain took {took:?}");
    // New requests are refused once draining.
    let late = clients[0]
        .send(
            Request::get(uri("/info")).body(()).unwrap(),
            Bytes::new(),
            None,
        )
        .await;
    assert!(late.is_err(), "a request after the drain: {late:?}");
    for client in clients {
        client.close().await;
    }
}
