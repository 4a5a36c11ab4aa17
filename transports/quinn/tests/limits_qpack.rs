//! QPACK is bounded: twinport advertises a dynamic table of capacity 0 (RFC 9204 §3.2.3), so
//! the only encoder instruction a client may send is Set Dynamic Table Capacity 0, a field
//! section may not need the dynamic table, and the decoder stream has nothing to acknowledge.
//! Anything else ends the connection with the QPACK error code at once (RFC 9204 §4.1.1,
//! §4.5.1, §6); the encoder stream is read as it comes, so a flood of it is no buffer.
//!
//! Its own test binary, one test at a time (RSS is the process's).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod limits;

use std::time::Duration;

use limits::*;
use twinport_testkit::codes::{
    QPACK_DECODER_STREAM_ERROR, QPACK_DECOMPRESSION_FAILED, QPACK_ENCODER_STREAM_ERROR,
};
use twinport_testkit::frames::{
    h3_frame, qpack_insert_literal, qpack_section_ack, qpack_set_capacity, H3_HEADERS,
    QPACK_DECODER_STREAM, QPACK_ENCODER_STREAM,
};
use twinport_testkit::raw::{describe, Ended, RawH3, Violation};

fn encoder(what: &'static str, bytes: Vec<u8>) -> Violation {
    Violation::streams(
        what,
        vec![(QPACK_ENCODER_STREAM, bytes)],
        &[QPACK_ENCODER_STREAM_ERROR],
    )
}

#[tokio::test]
async fn the_encoder_stream_may_only_set_the_capacity_to_zero() {
    let mut zero_then_insert = qpack_set_capacity(0);
    zero_then_insert.extend_from_slice(&qpack_insert_literal("x-a", b"b"));
    violations_close_the_connection(
        "QPACK encoder instructions",
        vec![
            encoder(
                "Set Dynamic Table Capacity 1 MiB",
                qpack_set_capacity(1 << 20),
            ),
            encoder("Set Dynamic Table Capacity 1", qpack_set_capacity(1)),
            encoder(
                "an Insert with Literal Name",
                qpack_insert_literal("x-a", b"b"),
            ),
            encoder("capacity 0, then an Insert", zero_then_insert),
            // Duplicate (000xxxxx) of entry 0.
            encoder("a Duplicate", vec![0x00]),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_encoder_stream_flood_ends_the_connection_at_once() {
    // 64 KiB of inserts, written again and again.
    let insert = qpack_insert_literal("x-flood", &[b'v'; 1000]);
    let flood: Vec<u8> = insert
        .iter()
        .copied()
        .cycle()
        .take(64 * insert.len())
        .collect();
    violations_close_the_connection(
        "QPACK encoder stream flood",
        vec![
            encoder("inserts, as fast as they go", Vec::new()).flooded(flood.clone()),
            encoder("capacity 1 MiB, then inserts", qpack_set_capacity(1 << 20)).flooded(flood),
        ],
    )
    .await;
}

/// A HEADERS frame of the field section `prefix` (Required Insert Count, Base) + `lines`,
/// then a GET's fields from the static table.
fn section(prefix: &[u8], lines: &[u8]) -> Vec<u8> {
    let mut block = prefix.to_vec();
    block.extend_from_slice(lines);
    // :method GET (17), :scheme https (23), :path / (1), all indexed static.
    block.extend_from_slice(&[0xc0 | 17, 0xc0 | 23, 0xc0 | 1]);
    h3_frame(H3_HEADERS, &block)
}

#[tokio::test]
async fn a_field_section_that_needs_the_dynamic_table_fails_decompression() {
    let failed = |what, bytes| Violation::request(what, bytes, &[QPACK_DECOMPRESSION_FAILED]);
    violations_close_the_connection(
        "field sections needing the dynamic table",
        vec![
            failed("Required Insert Count 1", section(&[0x01, 0x00], &[])),
            failed(
                "Required Insert Count 255",
                section(&[0xff, 0x00, 0x00], &[]),
            ),
            // 1Txxxxxx with T = 0: the dynamic table's entry 0.
            failed(
                "an indexed dynamic field line",
                section(&[0x00, 0x00], &[0x80]),
            ),
            // 01NTxxxx with T = 0: a name from the dynamic table.
            failed(
                "a dynamic name reference",
                section(&[0x00, 0x00], &[0x40, 0x01, b'x']),
            ),
            // 0001xxxx: post-base index 0.
            failed("a post-base index", section(&[0x00, 0x00], &[0x10])),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_decoder_stream_has_nothing_to_acknowledge() {
    let decoder = |what, bytes| {
        Violation::streams(
            what,
            vec![(QPACK_DECODER_STREAM, bytes)],
            &[QPACK_DECODER_STREAM_ERROR],
        )
    };
    violations_close_the_connection(
        "QPACK decoder instructions",
        vec![
            decoder("a Section Acknowledgment", qpack_section_ack(0)),
            // 00xxxxxx: Insert Count Increment 1.
            decoder("an Insert Count Increment", vec![0x01]),
        ],
    )
    .await;
}

#[tokio::test]
async fn what_a_client_without_a_dynamic_table_sends_is_fine() {
    let (_one, siege) = siege().await;
    let attacker = RawH3::h3(siege.srv.addr).await;
    let _encoder = attacker
        .uni(QPACK_ENCODER_STREAM, &qpack_set_capacity(0))
        .await;
    // 01xxxxxx: Stream Cancellation of stream 0 (a request it never sent).
    let _decoder = attacker.uni(QPACK_DECODER_STREAM, &[0x40]).await;
    attacker
        .assert_serves("after capacity 0 and a Stream Cancellation")
        .await;
    match attacker.ended(Duration::from_millis(500)).await {
        Ended::Nothing(_) => {}
        other => panic!("the connection ended: {}", describe(&other)),
    }
    attacker.close().await;
    siege
        .end("a client without a dynamic table", RSS_LIMIT_KIB)
        .await;
}
