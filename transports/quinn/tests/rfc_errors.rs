//! Each frame, stream or datagram that RFC 9114 or RFC 9297 make an error on a request or
//! control stream ends the offender's connection or stream with the code the RFC names,
//! sent from a raw QUIC connection ([`RawH3`]) while a well-behaved client on another
//! connection is served throughout. The WebTransport rules are in rfc_errors_webtransport.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod watched;

use std::time::{Duration, Instant};

use bytes::Bytes;
use twinport_quinn::Http3Config;
use twinport_testkit::codes::{
    H3_FRAME_UNEXPECTED, H3_GENERAL_PROTOCOL_ERROR, H3_ID_ERROR, H3_MESSAGE_ERROR,
    H3_MISSING_SETTINGS,
};
use twinport_testkit::frames::{
    h3_frame, h3_frames, h3_request_frame, h3_reserved, h3_trailers_frame, h3_varint_frame,
    H3_CANCEL_PUSH, H3_CONTROL_STREAM, H3_DATA, H3_MAX_PUSH_ID,
};
use twinport_testkit::raw::{
    after_settings, check_violations, describe, is_200_with, read_to_end, stopped_within, Ended,
    RawH3, Violation,
};
use watched::{assert_closed, Watched, REACTION};

/// A POST of `body` with trailers, then `after` on the same stream.
fn post_with_trailers(after: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut request = h3_request_frame("POST", "/sha256", &[]);
    request.extend(h3_frame(H3_DATA, b"hello"));
    request.extend(h3_trailers_frame(&[("x-checksum", b"abc")]));
    (request, after.to_vec())
}

#[tokio::test]
async fn headers_or_data_after_the_trailers_are_frame_unexpected() {
    let watched = Watched::start(Http3Config::default(), false).await;
    let late_data = h3_frame(H3_DATA, b"late");
    let late_headers = h3_trailers_frame(&[("x-late", b"1")]);
    for (what, after, pause) in [
        ("DATA after the trailers", &late_data, false),
        ("HEADERS after the trailers", &late_headers, false),
        ("DATA after the trailers, a moment later", &late_data, true),
    ] {
        let attacker = RawH3::h3(watched.addr()).await;
        let (request, after) = post_with_trailers(after);
        let (mut send, _recv) = attacker.bidi(&request).await;
        if pause {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The server may have closed the connection already.
        let _ = send.write_all(&after).await;
        let _ = send.finish();
        assert_closed(attacker, H3_FRAME_UNEXPECTED, what).await;
    }
    // Unknown and reserved frames after the trailers are skipped.
    let attacker = RawH3::h3(watched.addr()).await;
    let (request, after) = post_with_trailers(&h3_frame(h3_reserved(3), b"skip me"));
    let mut whole = request;
    whole.extend(after);
    match attacker.request(&whole).await {
        Ended::Finished(bytes) => assert!(!h3_frames(&bytes).is_empty()),
        other => panic!("a reserved frame after the trailers: {}", describe(&other)),
    }
    attacker
        .assert_serves("after a reserved frame after the trailers")
        .await;
    attacker.close().await;
    watched.end("frames after the trailers").await;
}

#[tokio::test]
async fn cancel_push_from_a_client_is_an_id_error() {
    let watched = Watched::start(Http3Config::default(), false).await;
    let allowed = [
        h3_varint_frame(H3_MAX_PUSH_ID, 8),
        h3_varint_frame(H3_CANCEL_PUSH, 2),
    ]
    .concat();
    let failures = check_violations(
        watched.addr(),
        vec![
            Violation::control(
                "CANCEL_PUSH for a push id below MAX_PUSH_ID, never promised",
                after_settings(&allowed),
                &[H3_ID_ERROR],
            ),
            Violation::control(
                "CANCEL_PUSH without MAX_PUSH_ID",
                after_settings(&h3_varint_frame(H3_CANCEL_PUSH, 0)),
                &[H3_ID_ERROR],
            ),
        ],
        REACTION,
    )
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
    watched.end("CANCEL_PUSH").await;
}

#[tokio::test]
async fn a_body_that_disagrees_with_content_length_is_a_message_error() {
    let watched = Watched::start(Http3Config::default(), false).await;
    let attacker = RawH3::h3(watched.addr()).await;
    for (what, length) in [("a short body", &b"10"[..]), ("a long body", b"3")] {
        let mut request = h3_request_frame("POST", "/echo", &[("content-length", length)]);
        request.extend(h3_frame(H3_DATA, b"hello"));
        let ended = attacker.request(&request).await;
        assert_eq!(
            ended,
            Ended::Reset(H3_MESSAGE_ERROR),
            "{what}: {}",
            describe(&ended)
        );
    }
    attacker
        .assert_serves("after bodies that disagree with content-length")
        .await;
    attacker.close().await;
    watched.end("content-length").await;
}

#[tokio::test]
async fn a_malformed_request_head_gets_400_and_message_error() {
    // An uppercase field name (RFC 9114 §4.2).
    let request = h3_request_frame("GET", "/ok", &[("X-Upper", b"1")]);
    assert_400_and_message_error(Http3Config::default(), request, "malformed request head").await;
}

/// RFC 9220 §3: `:protocol` is malformed unless the server's SETTINGS offered extended
/// CONNECT, which they do not with WebSockets off and no WebTransport.
#[tokio::test]
async fn an_extended_connect_the_server_did_not_offer_gets_400_and_message_error() {
    let request = h3_request_frame("CONNECT", "/ws", &[(":protocol", b"websocket")]);
    let config = Http3Config::default();
    #[cfg(feature = "websocket")]
    let config = config.websockets(false);
    assert_400_and_message_error(config, request, "extended CONNECT not offered").await;
}

/// Sends `request` on a stream left open: the server answers `400`, stops the stream with
/// H3_MESSAGE_ERROR, and serves the connection on.
async fn assert_400_and_message_error(config: Http3Config, request: Vec<u8>, what: &str) {
    let watched = Watched::start(config, false).await;
    let attacker = RawH3::h3(watched.addr()).await;
    let (send, mut recv) = attacker.bidi(&request).await;
    let stopped = stopped_within(&send, REACTION).await;
    assert_eq!(
        stopped,
        Ended::Stopped(H3_MESSAGE_ERROR),
        "{}",
        describe(&stopped)
    );
    match read_to_end(&mut recv, REACTION).await {
        Ended::Finished(bytes) => {
            let frames = h3_frames(&bytes);
            let head = &frames.first().expect("a response head").1;
            // `:status 400`: QPACK static index 67 (0xff 0x04), or the literal.
            let is_400 =
                head.windows(2).any(|w| w == [0xff, 0x04]) || head.windows(3).any(|w| w == b"400");
            assert!(is_400, "not 400: {head:?}");
        }
        other => panic!("no 400: {}", describe(&other)),
    }
    attacker.assert_serves(&format!("after a {what}")).await;
    attacker.close().await;
    watched.end(what).await;
}

#[tokio::test]
async fn a_client_without_settings_in_time_is_closed_with_missing_settings() {
    let wait = Duration::from_millis(1500);
    let watched = Watched::start(Http3Config::default().settings_timeout(wait), false).await;
    let started = Instant::now();
    let silent = RawH3::connect(watched.addr()).await;
    let typed_only = RawH3::connect(watched.addr()).await;
    let _control = typed_only.uni(H3_CONTROL_STREAM, &[]).await;
    let settled = RawH3::h3(watched.addr()).await;
    for (attacker, what) in [
        (silent, "no control stream"),
        (typed_only, "a control stream without SETTINGS"),
    ] {
        assert_closed(attacker, H3_MISSING_SETTINGS, what).await;
    }
    assert!(
        started.elapsed() >= wait,
        "closed after {:?}",
        started.elapsed()
    );
    // A client that sent its SETTINGS is not affected.
    let ended = settled.ended(wait).await;
    assert!(matches!(ended, Ended::Nothing(_)), "{}", describe(&ended));
    settled.assert_serves("past the SETTINGS deadline").await;
    settled.close().await;
    watched.end("missing SETTINGS").await;
}

#[tokio::test]
async fn without_webtransport_its_frame_type_is_skipped_as_unknown() {
    let watched = Watched::start(Http3Config::default(), false).await;
    let attacker = RawH3::h3(watched.addr()).await;
    // RFC 9114 §9: an unknown frame type (0x41 means something only with WebTransport) is
    // skipped, first on the stream or later.
    let signal = h3_frame(0x41, b"ab");
    let request = [&signal[..], &h3_request_frame("GET", "/ok", &[]), &signal].concat();
    match attacker.request(&request).await {
        Ended::Finished(bytes) => assert!(is_200_with(&bytes, b"ok"), "{bytes:?}"),
        other => panic!("a request with frames of type 0x41: {}", describe(&other)),
    }
    attacker.assert_serves("after frames of type 0x41").await;
    attacker.close().await;
    watched.end("frame type 0x41 without WebTransport").await;
}

#[tokio::test]
async fn a_datagram_without_http_datagrams_enabled_is_a_protocol_error() {
    // Without WebTransport the server sends no SETTINGS_H3_DATAGRAM, so a client may send no
    // datagram (RFC 9297 §2.1.1).
    let watched = Watched::start(Http3Config::default(), false).await;
    let attacker = RawH3::h3(watched.addr()).await;
    attacker
        .conn
        .send_datagram(Bytes::from_static(&[0x00, 1, 2, 3]))
        .unwrap();
    assert_closed(attacker, H3_GENERAL_PROTOCOL_ERROR, "a datagram").await;
    watched.end("datagrams not enabled").await;
}
