//! HTTP/3 frames are bounded by what they declare: frames of unknown or reserved types are
//! skipped as their payload streams past, whatever length they declare (RFC 9114 §7.2.8, §9);
//! a HEADERS frame declaring more than `max_field_section_size` is refused on its frame head
//! (RFC 9114 §4.2.2, §10.5.1) long before the request header timeout; control frames of the
//! wrong size or out of place close the connection with the code RFC 9114 names.
//!
//! Its own test binary, one test at a time (RSS is the process's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use std::time::Duration;

use limits::*;
use twinport_testkit::codes::{
    H3_EXCESSIVE_LOAD, H3_FRAME_ERROR, H3_FRAME_UNEXPECTED, H3_MISSING_SETTINGS,
};
use twinport_testkit::frames::{
    h3_frame, h3_frame_head, h3_request_frame, h3_reserved, h3_settings, h3_varint_frame,
    quic_varint, says_431, H3_DATA, H3_GOAWAY, H3_HEADERS, H3_MAX_PUSH_ID, H3_SETTINGS,
};
use twinport_testkit::raw::{
    after_settings, describe, is_200_with, pump, read_to_end, Ended, RawH3, Violation,
};

#[tokio::test]
async fn a_reserved_frame_on_the_control_stream_is_skipped_not_buffered() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::connect(siege.srv.addr).await;
    let mut control = attacker.control_with_settings().await;
    control
        .write_all(&h3_frame_head(h3_reserved(7), HUGE))
        .await
        .unwrap();
    let pumped = pump(&mut control, &[0u8; 64 * 1024], FLOOD).await;
    eprintln!(
        "control stream: {} MiB of a reserved frame",
        pumped.bytes >> 20
    );
    flooded(&pumped, "a reserved frame on the control stream");
    attacker
        .assert_serves("after a reserved frame on the control stream")
        .await;
    attacker.close().await;
    siege
        .end("reserved frame on the control stream", RSS_LIMIT_KIB)
        .await;
}

#[tokio::test]
async fn a_reserved_frame_before_headers_is_skipped_not_buffered() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::h3(siege.srv.addr).await;
    let (mut send, _recv) = attacker.bidi(&h3_frame_head(h3_reserved(3), HUGE)).await;
    let pumped = pump(&mut send, &[0u8; 64 * 1024], FLOOD).await;
    eprintln!(
        "request stream: {} MiB of a reserved frame",
        pumped.bytes >> 20
    );
    flooded(&pumped, "a reserved frame before HEADERS");
    let _ = send.reset(0x10cu32.into());
    // One that ends: a 256 KiB reserved frame, then the request.
    let mut request = h3_frame(h3_reserved(3), &[0u8; 256 * 1024]);
    request.extend_from_slice(&h3_request_frame("GET", "/ok", &[]));
    match attacker.request(&request).await {
        Ended::Finished(ref bytes) if is_200_with(bytes, b"ok") => {}
        other => panic!("a GET after a reserved frame: {}", describe(&other)),
    }
    attacker.close().await;
    siege
        .end("reserved frame before HEADERS", RSS_LIMIT_KIB)
        .await;
}

#[tokio::test]
async fn a_reserved_frame_inside_a_request_body_is_skipped_not_buffered() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::h3(siege.srv.addr).await;
    let mut head = h3_request_frame("POST", "/upload", &[]);
    head.extend_from_slice(&h3_frame(H3_DATA, &[b'a'; 1000]));
    head.extend_from_slice(&h3_frame_head(h3_reserved(5), HUGE));
    let (mut send, _recv) = attacker.bidi(&head).await;
    let pumped = pump(&mut send, &[0u8; 64 * 1024], FLOOD).await;
    eprintln!(
        "request body: {} MiB of a reserved frame",
        pumped.bytes >> 20
    );
    flooded(&pumped, "a reserved frame inside a body");
    let _ = send.reset(0x10cu32.into());
    // One that ends: DATA, a 256 KiB reserved frame, DATA; the upload counts 2000 bytes.
    let mut request = h3_request_frame("POST", "/upload", &[]);
    request.extend_from_slice(&h3_frame(H3_DATA, &[b'a'; 1000]));
    request.extend_from_slice(&h3_frame(h3_reserved(5), &[0u8; 256 * 1024]));
    request.extend_from_slice(&h3_frame(H3_DATA, &[b'b'; 1000]));
    match attacker.request(&request).await {
        Ended::Finished(ref bytes) if is_200_with(bytes, b"2000") => {}
        other => panic!(
            "a POST with a reserved frame in its body: {}",
            describe(&other)
        ),
    }
    attacker.close().await;
    siege
        .end("reserved frame inside a body", RSS_LIMIT_KIB)
        .await;
}

/// How long the server may take to refuse a HEADERS frame by its declared length.
const REFUSE_HEADERS: Duration = Duration::from_millis(1500);

/// Whether a request stream was refused: a 431, a reset or STOP_SENDING of the stream, or
/// the connection closed with H3_EXCESSIVE_LOAD.
fn refused(read: &Ended, written: Option<&Ended>) -> bool {
    let one = |e: &Ended| match e {
        Ended::Finished(bytes) => says_431(bytes),
        Ended::Reset(_) | Ended::Stopped(_) => true,
        Ended::Closed(code) => *code == H3_EXCESSIVE_LOAD,
        Ended::Nothing(_) | Ended::Other(_) => false,
    };
    one(read) || written.is_some_and(one)
}

#[tokio::test]
async fn headers_declaring_more_than_the_limit_are_refused_at_once() {
    let (_one, siege) = siege().await;
    let mut failures = Vec::new();

    // Declares 2^40 bytes and streams a field section's worth of nonsense after it.
    let attacker = RawH3::h3(siege.srv.addr).await;
    let (mut send, mut recv) = attacker.bidi(&h3_frame_head(H3_HEADERS, HUGE)).await;
    let (pumped, read) = tokio::join!(
        pump(&mut send, &[b'a'; 64 * 1024], REFUSE_HEADERS),
        read_to_end(&mut recv, REFUSE_HEADERS),
    );
    if !refused(&read, pumped.ended.as_ref()) {
        failures.push(format!(
            "HEADERS declaring 2^40 bytes ({} KiB sent): {} / writes: {:?}",
            pumped.bytes / 1024,
            describe(&read),
            pumped.ended.as_ref().map(describe)
        ));
    }
    attacker.close().await;

    // Declares 1 KiB over the limit, sends 1 KiB of it and waits.
    let attacker = RawH3::h3(siege.srv.addr).await;
    let mut head = h3_frame_head(H3_HEADERS, MAX_FIELD_SECTION + 1024);
    head.extend_from_slice(&[b'a'; 1024]);
    let (_send, mut recv) = attacker.bidi(&head).await;
    let read = read_to_end(&mut recv, REFUSE_HEADERS).await;
    if !refused(&read, None) {
        failures.push(format!(
            "HEADERS declaring {} bytes (limit {MAX_FIELD_SECTION}): {}",
            MAX_FIELD_SECTION + 1024,
            describe(&read)
        ));
    }
    attacker.close().await;

    siege.end("oversized HEADERS", RSS_LIMIT_KIB).await;
    assert!(
        failures.is_empty(),
        "not refused within {REFUSE_HEADERS:?}:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn control_frames_of_the_wrong_size_close_the_connection_at_once() {
    // 1 KiB of distinct reserved settings: a start that is fine but for the declared length.
    let mut pairs = Vec::new();
    for n in 0..128 {
        quic_varint(h3_reserved(n), &mut pairs);
        quic_varint(0, &mut pairs);
    }
    let mut settings = h3_frame_head(H3_SETTINGS, 1 << 20);
    settings.extend_from_slice(&pairs);
    // GOAWAY and MAX_PUSH_ID carry one varint: 1 MiB declared is wrong on its head.
    let declaring = |ty| after_settings(&h3_frame_head(ty, 1 << 20));
    violations_close_the_connection(
        "control frames of the wrong size",
        vec![
            Violation::control("SETTINGS declaring 1 MiB", settings, TOO_LONG),
            Violation::control("GOAWAY declaring 1 MiB", declaring(H3_GOAWAY), TOO_LONG),
            Violation::control(
                "MAX_PUSH_ID declaring 1 MiB",
                declaring(H3_MAX_PUSH_ID),
                TOO_LONG,
            ),
            Violation::control(
                "GOAWAY of two varints",
                after_settings(&h3_frame(H3_GOAWAY, &[0, 0])),
                TOO_LONG,
            ),
            Violation::control(
                "MAX_PUSH_ID of two varints",
                after_settings(&h3_frame(H3_MAX_PUSH_ID, &[0, 0])),
                TOO_LONG,
            ),
            Violation::control(
                "an empty GOAWAY",
                after_settings(&h3_frame(H3_GOAWAY, &[])),
                &[H3_FRAME_ERROR],
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn control_frames_out_of_place_close_the_connection() {
    let mut second = h3_settings(&[]);
    second.extend_from_slice(&h3_settings(&[]));
    violations_close_the_connection(
        "control frames out of place",
        vec![
            Violation::control("a second SETTINGS", second, &[H3_FRAME_UNEXPECTED]),
            Violation::control(
                "MAX_PUSH_ID before SETTINGS",
                h3_varint_frame(H3_MAX_PUSH_ID, 1),
                &[H3_MISSING_SETTINGS],
            ),
            Violation::control(
                "a reserved frame before SETTINGS",
                h3_frame(h3_reserved(1), b"x"),
                &[H3_MISSING_SETTINGS],
            ),
            Violation::control(
                "DATA on the control stream",
                after_settings(&h3_frame(H3_DATA, b"x")),
                &[H3_FRAME_UNEXPECTED],
            ),
            Violation::control(
                "HEADERS on the control stream",
                after_settings(&h3_request_frame("GET", "/ok", &[])),
                &[H3_FRAME_UNEXPECTED],
            ),
        ],
    )
    .await;
}
