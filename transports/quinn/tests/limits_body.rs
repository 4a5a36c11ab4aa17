//! A request body is bounded in memory and in time: a long one streams through with bounded
//! memory, and one that goes silent (the head and part of a declared body, then nothing while
//! the connection is kept alive) makes the handler's body fail, and the stream reset, once no
//! byte came for `Http3Config::body_idle_timeout`; a slow body that keeps coming is not cut.
//!
//! Its own test binary, one test at a time (RSS is the process's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use limits::*;
use twinport_quinn::Http3Config;
use twinport_testkit::bounded;
use twinport_testkit::frames::{h3_frame_head, h3_request_frame, H3_DATA};
use twinport_testkit::raw::{describe, is_200_with, pump, read_to_end, Ended, RawH3};

/// The body idle timeout of this server.
const IDLE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_long_request_body_streams_through_with_bounded_memory() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::h3(siege.srv.addr).await;
    let mut head = h3_request_frame("POST", "/upload", &[]);
    head.extend_from_slice(&h3_frame_head(H3_DATA, HUGE));
    let (mut send, _recv) = attacker.bidi(&head).await;
    let pumped = pump(&mut send, &[0u8; 64 * 1024], FLOOD).await;
    eprintln!("request body: {} MiB of DATA", pumped.bytes >> 20);
    flooded(&pumped, "a long request body");
    let _ = send.reset(0x10cu32.into());
    attacker.close().await;
    siege.end("long request body", RSS_LIMIT_KIB).await;
}

#[tokio::test]
async fn a_request_body_that_goes_silent_fails_at_the_body_idle_timeout() {
    let (_one, siege) = siege_with(Http3Config::default().body_idle_timeout(IDLE)).await;
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
    siege.end("silent request body", RSS_LIMIT_KIB).await;
}
