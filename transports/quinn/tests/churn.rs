//! Stream churn ("rapid reset", CVE-2023-44487 in HTTP/2 terms): a client that opens request
//! streams and cancels them at once makes the server start work it never finishes, faster than
//! any stream limit can stop. Beyond `Http3Config::stream_churn_rate`, the server ends that
//! client's connection with H3_EXCESSIVE_LOAD, while a well-behaved client is served
//! throughout; a client that cancels now and then is not cut.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use twinport_quinn::{quinn, Http3Config};
use twinport_testkit::codes::H3_EXCESSIVE_LOAD;
use twinport_testkit::frames::h3_request_frame;
use twinport_testkit::raw::{closed_with, describe, Ended, RawH3};
use twinport_testkit::servers::{Opts, Siege};

/// How long the flood may go on before the server must have ended it.
const FLOOD: Duration = Duration::from_secs(5);

/// Opens a request stream for a slow GET and cancels it at once, as an HTTP/3 client does:
/// STOP_SENDING for the response, RESET_STREAM for the request. False once the connection is
/// gone.
async fn open_and_cancel(attacker: &RawH3) -> bool {
    let request = h3_request_frame("GET", "/slow?ms=2000", &[]);
    let Ok((mut send, mut recv)) = attacker.try_bidi(&request).await else {
        return false;
    };
    let _ = send.finish();
    // Let the request reach the handler before it is cancelled.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let _ = recv.stop(H3_REQUEST_CANCELLED_VAR);
    let _ = send.reset(H3_REQUEST_CANCELLED_VAR);
    true
}

const H3_REQUEST_CANCELLED_VAR: quinn::VarInt = quinn::VarInt::from_u32(0x10c);

#[tokio::test]
async fn a_rapid_reset_flood_ends_the_offenders_connection_only() {
    let opts = Opts {
        h3: Http3Config::default().stream_churn_rate(50),
        ..Opts::default()
    };
    let siege = Siege::begin(opts).await;

    // Now and then is fine: ten cancels, a request served after them.
    let polite = RawH3::h3(siege.srv.addr).await;
    for _ in 0..10 {
        assert!(open_and_cancel(&polite).await, "a polite client was cut");
    }
    polite.assert_serves("after ten cancelled requests").await;
    assert_eq!(
        polite.ended(Duration::ZERO).await,
        Ended::Nothing(Duration::ZERO)
    );
    polite.close().await;

    // A flood is ended, and with the right code.
    let attacker = RawH3::h3(siege.srv.addr).await;
    let end = Instant::now() + FLOOD;
    let mut cancelled = 0;
    while Instant::now() < end && open_and_cancel(&attacker).await {
        cancelled += 1;
    }
    let ended = attacker.ended(Duration::from_secs(2)).await;
    eprintln!(
        "rapid reset: {cancelled} streams cancelled, then {}",
        describe(&ended)
    );
    closed_with(&ended, H3_EXCESSIVE_LOAD).unwrap();
    attacker.close().await;
    siege.end("rapid reset", 10 * 1024).await;
}
