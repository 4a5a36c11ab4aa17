//! A request body that goes silent is given up at the body idle timeout: a client that sends
//! the head and part of a declared body, then nothing while keeping the connection alive,
//! makes the handler's body fail (and the stream reset) once no byte came for
//! `Http3Config::body_idle_timeout`; a slow body that keeps coming is not cut.
//!
//! `Http3Config::body_idle_timeout(Duration)` came with twinport's own HTTP/3 layer (the
//! h3-engine merge, 949a005); this file was written before it and kept apart from limits.rs
//! so that the rest compiled on h3 0.0.8. There (with the knob removed) the silent body's
//! handler got no error within 4 s: it waits for the connection's idle timeout, which the
//! client's keep-alives never let come. Passes on 949a005.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use twinport_quinn::Http3Config;
use twinport_testkit::*;

/// The body idle timeout of this server.
const IDLE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_request_body_that_goes_silent_fails_at_the_body_idle_timeout() {
    let opts = Opts {
        // How long a request body may go without a byte.
        h3: Http3Config::default().body_idle_timeout(IDLE),
        ..Opts::default()
    };
    let siege = Siege::begin(opts).await;
    let stats = siege.srv.stats.clone();
    // RawH3 sends keep-alives: the connection itself never goes idle.
    let attacker = RawH3::h3(siege.srv.addr).await;

    // 1000 bytes of a declared 100000, then silence.
    let mut head = h3_request_frame("POST", "/upload", &[("content-length", b"100000")]);
    head.extend_from_slice(&h3_frame_head(H3_DATA, 100_000));
    head.extend_from_slice(&[b'a'; 1000]);
    let (_send, mut recv) = attacker.bidi(&head).await;
    let started = Instant::now();
    bounded(10, "the upload to start", async {
        while stats.upload_started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let failed = tokio::time::timeout(IDLE + Duration::from_secs(3), async {
        while stats.body_errors() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        failed.is_ok(),
        "the handler's body did not fail within {:?} of the client going silent",
        IDLE + Duration::from_secs(3)
    );
    let after = started.elapsed();
    assert!(
        after >= IDLE - Duration::from_millis(100),
        "the body failed after {after:?}, before the {IDLE:?} idle timeout"
    );
    // The client sees the stream reset, or the handler's answer to the failed body.
    match read_to_end(&mut recv, Duration::from_secs(3)).await {
        Ended::Reset(_) | Ended::Finished(_) => {}
        other => panic!("the silent request: {}", describe(&other)),
    }

    // A body that trickles (a byte every half idle timeout) is slow, not silent.
    let mut head = h3_request_frame("POST", "/upload", &[("content-length", b"1006")]);
    head.extend_from_slice(&h3_frame_head(H3_DATA, 1006));
    head.extend_from_slice(&[b'a'; 1000]);
    let (mut send, mut recv) = attacker.bidi(&head).await;
    for _ in 0..6 {
        tokio::time::sleep(IDLE / 2).await;
        send.write_all(b"b").await.unwrap();
    }
    send.finish().unwrap();
    match read_to_end(&mut recv, Duration::from_secs(10)).await {
        Ended::Finished(ref bytes) if is_200_with(bytes, b"1006") => {}
        other => panic!("the trickling request: {}", describe(&other)),
    }
    assert_eq!(stats.body_errors(), 1, "the trickling body failed");

    attacker.assert_serves("after the silent body").await;
    attacker.close().await;
    siege.end("silent request body", 10 * 1024).await;
}
