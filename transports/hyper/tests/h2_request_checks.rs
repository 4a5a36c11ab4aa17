//! HTTP/2 checks on the request side hold whether or not the handler reads the body: frames
//! a client sends after the response (a `content-length` that disagrees with the DATA,
//! trailers that are not the end of the stream or are malformed) reset the stream with
//! `PROTOCOL_ERROR` (RFC 9113 §8.1.1, §8.3), as h2spec checks.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use twinport_hyper::Http;
use twinport_testkit::frames::{
    h2_frame, hpack_literal, END_HEADERS, END_STREAM, H2_DATA as DATA, H2_HEADERS,
    H2_RST_STREAM as RST_STREAM,
};
use twinport_testkit::raw::{H2Frame, RawH2};
use twinport_testkit::servers::{serve_http, HttpServer};
use twinport_testkit::Pki;

const PROTOCOL_ERROR: u32 = 0x1;
const NO_ERROR: u32 = 0x0;
const WAIT: Duration = Duration::from_secs(3);

async fn tls_server() -> HttpServer {
    let http = Http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .tls(&Pki::get().server_tls())
        .unwrap();
    serve_http(http, Duration::from_secs(5))
}

fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        hpack_literal(name, value.as_bytes(), &mut b);
    }
    b
}

/// `POST /info` (answered at once, the body unread) declaring `content-length: 10`, on
/// stream `id`; waits until the whole response has arrived.
async fn answered_post(client: &mut RawH2, id: u32) {
    let head = block(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/info"),
        ("content-length", "10"),
    ]);
    client
        .send(&h2_frame(H2_HEADERS, END_HEADERS, id, &head))
        .await;
    let mut seen = Vec::new();
    let ended = client
        .until(WAIT, &mut seen, |f| {
            f.stream == id && f.flags & END_STREAM != 0
        })
        .await;
    assert!(ended.is_some(), "no complete response: {seen:?}");
}

/// Sends `late` on stream 1 after its response, then expects a RST_STREAM with `code`; the
/// connection then serves another request.
async fn reset_after_response(late: Vec<u8>, code: u32) {
    let server = tls_server().await;
    let mut client = RawH2::connect(server.addr()).await;
    answered_post(&mut client, 1).await;
    client.send(&late).await;
    assert_reset(&mut client, code).await;
    answered_post(&mut client, 3).await;
    drop(client);
    assert_eq!(server.stop().await.cut, 0);
}

/// Expects the server to reset stream 1 with `code` within [`WAIT`].
async fn assert_reset(client: &mut RawH2, code: u32) {
    let mut seen = Vec::new();
    let reset = client
        .until(WAIT, &mut seen, |f| f.ty == RST_STREAM && f.stream == 1)
        .await;
    assert_eq!(
        reset.as_ref().and_then(H2Frame::error_code),
        Some(code),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_content_length_the_data_disagrees_with_is_a_protocol_error_after_the_response() {
    reset_after_response(h2_frame(DATA, END_STREAM, 1, b"test"), PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn trailers_that_do_not_end_the_stream_are_a_protocol_error_after_the_response() {
    let mut late = h2_frame(DATA, 0, 1, b"0123456789");
    let trailers = block(&[(":method", "POST")]);
    late.extend(h2_frame(H2_HEADERS, END_HEADERS, 1, &trailers));
    reset_after_response(late, PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn malformed_trailers_are_a_protocol_error_after_the_response() {
    let mut late = h2_frame(DATA, 0, 1, b"0123456789");
    let trailers = block(&[("x-checksum", "abc"), (":method", "POST")]);
    late.extend(h2_frame(H2_HEADERS, END_HEADERS | END_STREAM, 1, &trailers));
    reset_after_response(late, PROTOCOL_ERROR).await;
}

/// An unread body is read for a moment only: then the client is asked to stop (`NO_ERROR`).
#[tokio::test]
async fn an_unread_body_that_does_not_end_is_stopped_with_no_error() {
    let server = tls_server().await;
    let mut client = RawH2::connect(server.addr()).await;
    let head = block(&[
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/info"),
    ]);
    client
        .send(&h2_frame(H2_HEADERS, END_HEADERS, 1, &head))
        .await;
    client.send(&h2_frame(DATA, 0, 1, &[0; 16 * 1024])).await;
    assert_reset(&mut client, NO_ERROR).await;
    drop(client);
    assert_eq!(server.stop().await.cut, 0);
}
