//! HTTP/3 streams are bounded: a second control or QPACK stream is a stream creation error,
//! unidirectional streams of unknown types are refused one by one (RFC 9114 §6.2:
//! STOP_SENDING with H3_STREAM_CREATION_ERROR, nothing read or kept) so the client gets its
//! stream credit back, and a flood of tiny control frames is processed with bounded memory or
//! ended with H3_EXCESSIVE_LOAD (RFC 9114 §10.5).
//!
//! Its own test binary, one test at a time (RSS is the process's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use std::time::{Duration, Instant};

use limits::*;
use twinport_testkit::codes::{H3_EXCESSIVE_LOAD, H3_FRAME_UNEXPECTED, H3_STREAM_CREATION_ERROR};
use twinport_testkit::frames::{
    h3_frame, h3_reserved, h3_settings, h3_varint_frame, quic_varint, H3_CONTROL_STREAM,
    H3_MAX_PUSH_ID, QPACK_DECODER_STREAM, QPACK_ENCODER_STREAM,
};
use twinport_testkit::raw::{describe, pump, stopped_within, Ended, RawH3, Violation};

#[tokio::test]
async fn a_second_control_or_qpack_stream_is_a_stream_creation_error() {
    let twice = |what, ty: u64| {
        Violation::streams(
            what,
            vec![(ty, Vec::new()), (ty, Vec::new())],
            &[H3_STREAM_CREATION_ERROR],
        )
    };
    violations_close_the_connection(
        "second critical streams",
        vec![
            Violation::streams(
                "a second control stream",
                vec![(H3_CONTROL_STREAM, h3_settings(&[]))],
                &[H3_STREAM_CREATION_ERROR],
            ),
            twice("a second QPACK encoder stream", QPACK_ENCODER_STREAM),
            twice("a second QPACK decoder stream", QPACK_DECODER_STREAM),
        ],
    )
    .await;
}

/// How many unknown streams the flood opens at most.
const UNKNOWN_STREAMS: usize = 5000;
/// How many it must have been able to open unless the server ended it with H3_EXCESSIVE_LOAD:
/// far more than the 16 the server allows at once.
const UNKNOWN_STREAMS_OPENED: usize = 1000;

#[tokio::test]
async fn an_unknown_unidirectional_stream_flood_is_refused_stream_by_stream() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::h3(siege.srv.addr).await;
    let end = Instant::now() + FLOOD;
    let mut refusals = Vec::new();
    while Instant::now() < end && refusals.len() < UNKNOWN_STREAMS {
        let left = end.saturating_duration_since(Instant::now());
        let Ok(Ok(mut send)) = tokio::time::timeout(left, attacker.conn.open_uni()).await else {
            break;
        };
        let mut bytes = Vec::new();
        quic_varint(h3_reserved(refusals.len() as u64 % 1000), &mut bytes);
        bytes.extend_from_slice(&[0u8; 1024]);
        // Written, never finished: the server must not wait for the end. Like any QUIC peer,
        // the attacker resets a stream once it is stopped (dropping it does), which gives the
        // server's stream slot back.
        refusals.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(REACTION, send.write_all(&bytes)).await;
            stopped_within(&send, REACTION).await
        }));
    }
    let opened = refusals.len();
    let mut failures = Vec::new();
    for (i, refusal) in refusals.into_iter().enumerate() {
        match refusal.await.unwrap() {
            Ended::Stopped(H3_STREAM_CREATION_ERROR) | Ended::Closed(H3_EXCESSIVE_LOAD) => {}
            other => failures.push(format!("unknown stream {i}: {}", describe(&other))),
        }
    }
    let excessive = attacker.ended(Duration::ZERO).await == Ended::Closed(H3_EXCESSIVE_LOAD);
    if !excessive && opened < UNKNOWN_STREAMS_OPENED {
        failures.push(format!(
            "only {opened} unknown streams could be opened in {FLOOD:?}: the server keeps them"
        ));
    }
    eprintln!("unknown streams: {opened} opened, excessive load: {excessive}");
    failures.truncate(5);
    attacker.close().await;
    siege.end("unknown stream flood", RSS_LIMIT_KIB).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// How long a control-frame flood goes on.
const CONTROL_FLOOD: Duration = Duration::from_secs(3);
/// How long a server that processes a control-frame flood may take to reach its end.
const CATCH_UP: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_control_frame_flood_is_processed_or_ended_with_excessive_load() {
    let (_one, siege) = siege().await;
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut failures = Vec::new();
    for (what, frame) in [
        ("empty reserved frames", h3_frame(h3_reserved(0), &[])),
        ("MAX_PUSH_ID frames", h3_varint_frame(H3_MAX_PUSH_ID, 7)),
    ] {
        let mut attacker = RawH3::connect_via(endpoint.clone(), siege.srv.addr).await;
        let mut control = attacker.control_with_settings().await;
        let chunk = frame.repeat(64 * 1024 / frame.len());
        let pumped = pump(&mut control, &chunk, CONTROL_FLOOD).await;
        let frames = pumped.bytes / frame.len() as u64;
        // A second SETTINGS after the flood: a server that processed it all, in order, closes
        // with H3_FRAME_UNEXPECTED; one that stopped reading never gets to it.
        let ended = match pumped.ended {
            Some(ended) => ended,
            None if !pumped.whole => Ended::Other("the server stopped reading mid-flood".into()),
            None => {
                let _ = tokio::time::timeout(CATCH_UP, control.write_all(&h3_settings(&[]))).await;
                attacker.ended(CATCH_UP).await
            }
        };
        eprintln!("{what}: {frames} frames, then {}", describe(&ended));
        if !matches!(
            ended,
            Ended::Closed(H3_FRAME_UNEXPECTED | H3_EXCESSIVE_LOAD)
        ) {
            failures.push(format!(
                "{what}: {frames} frames, then {} (wanted H3_FRAME_UNEXPECTED for the SETTINGS \
                 after them, or H3_EXCESSIVE_LOAD)",
                describe(&ended)
            ));
        }
        attacker.control = Some(control);
        attacker.close().await;
    }
    siege.end("control frame flood", RSS_LIMIT_KIB).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
