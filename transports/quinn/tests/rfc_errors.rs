//! Each frame, datagram or stream that RFC 9114, RFC 9297 or the WebTransport draft make an
//! error ends the offender's connection or stream with the code the RFC names, sent from a
//! raw QUIC connection ([`RawH3`]) while a well-behaved client on another connection is
//! served throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;
use tower::ServiceExt;
use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::{Http3, Http3Config, RecvBody};
use twinport_testkit::*;

/// How long the server has to react to a violation.
const REACTION: Duration = Duration::from_secs(3);

/// A server of the info app, plus `/ok` (what [`RawH3::assert_serves`] and the well-behaved
/// client ask for), with a well-behaved HTTP/3 client served on a connection of its
/// own all along.
struct Watched {
    server: Http3Server,
    stop: Arc<AtomicBool>,
    good: JoinHandle<usize>,
}

impl Watched {
    async fn start(config: Http3Config, webtransport: bool) -> Self {
        let builder = Http3::builder(&Pki::get().server_tls())
            .http3()
            .http3_config(config);
        let builder = if webtransport {
            builder.webtransport("/wt", idle_session)
        } else {
            builder
        };
        let endpoint = builder.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let info = app::info::router();
        let service = tower::service_fn(move |req: Request<RecvBody>| {
            let info = info.clone();
            async move {
                if req.uri().path() == "/ok" {
                    let ok = Full::new(Bytes::from_static(b"ok")).map_err(|e| match e {});
                    return Ok(Response::new(UnsyncBoxBody::new(ok)));
                }
                let response = info.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(
                    response.map(|b| b.map_err(twinport::BoxError::from).boxed_unsync()),
                )
            }
        });
        let server = serve_http3_with(endpoint, service);
        let stop = Arc::new(AtomicBool::new(false));
        let good = served_h3_meanwhile(server.addr, stop.clone());
        Self { server, stop, good }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// The well-behaved client must have been served; then the server stops.
    async fn end(self, what: &str) {
        self.stop.store(true, Ordering::SeqCst);
        let rounds = bounded(30, "the well-behaved client to finish", self.good)
            .await
            .unwrap_or_else(|e| panic!("{what}: the well-behaved client failed: {e}"));
        assert!(
            rounds > 0,
            "{what}: the well-behaved client was never served"
        );
        self.server.stop(Duration::from_secs(2)).await;
    }
}

/// A WebTransport session that waits for the client to end it.
async fn idle_session(session: WebTransportSession) -> Result<(), twinport::BoxError> {
    while session.accept_bi().await.is_some() {}
    Ok(())
}

/// Asserts that `attacker`'s connection is closed with `code` within [`REACTION`].
async fn assert_closed(attacker: RawH3, code: u64, what: &str) {
    let ended = attacker.ended(REACTION).await;
    if let Err(e) = closed_with(&ended, code) {
        panic!("{what}: {e}");
    }
    attacker.close().await;
}

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
async fn malformed_http3_datagrams_are_datagram_errors() {
    let watched = Watched::start(Http3Config::default(), true).await;
    let mut too_large = Vec::new();
    quic_varint(1 << 60, &mut too_large);
    too_large.extend_from_slice(b"payload");
    for (what, datagram) in [
        ("an empty datagram", Vec::new()),
        ("a truncated quarter stream id", vec![0x40]),
        ("a quarter stream id above 2^60 - 1", too_large),
    ] {
        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        attacker.conn.send_datagram(Bytes::from(datagram)).unwrap();
        assert_closed(attacker, H3_DATAGRAM_ERROR, what).await;
    }
    // A well-formed datagram for no session is dropped; an empty payload is well-formed.
    let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
    for datagram in [&[0x3f, 1, 2][..], &[0x00]] {
        attacker
            .conn
            .send_datagram(Bytes::copy_from_slice(datagram))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    attacker
        .assert_serves("after datagrams for no session")
        .await;
    attacker.close().await;
    watched.end("malformed datagrams").await;
}

#[tokio::test]
async fn a_webtransport_stream_for_an_impossible_session_id_is_an_id_error() {
    let watched = Watched::start(Http3Config::default(), true).await;
    for session in [2u64, 3, 5] {
        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        let mut id = Vec::new();
        quic_varint(session, &mut id);
        let _uni = attacker.try_uni(0x54, &id).await;
        assert_closed(
            attacker,
            H3_ID_ERROR,
            &format!("uni stream for session {session}"),
        )
        .await;

        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        let mut head = Vec::new();
        quic_varint(0x41, &mut head);
        quic_varint(session, &mut head);
        let _bidi = attacker.try_bidi(&head).await;
        assert_closed(
            attacker,
            H3_ID_ERROR,
            &format!("bidi stream for session {session}"),
        )
        .await;
    }
    // A session id that could be one but is not: that stream alone is refused.
    let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
    let mut id = Vec::new();
    quic_varint(8, &mut id);
    let uni = attacker.uni(0x54, &id).await;
    let ended = stopped_within(&uni, REACTION).await;
    assert!(matches!(ended, Ended::Stopped(_)), "{}", describe(&ended));
    attacker
        .assert_serves("after a stream for no session")
        .await;
    attacker.close().await;
    watched.end("WebTransport session ids").await;
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
    let watched = Watched::start(Http3Config::default(), false).await;
    let attacker = RawH3::h3(watched.addr()).await;
    // An uppercase field name (RFC 9114 §4.2); the stream is left open.
    let (send, mut recv) = attacker
        .bidi(&h3_request_frame("GET", "/ok", &[("X-Upper", b"1")]))
        .await;
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
    attacker.assert_serves("after a malformed request").await;
    attacker.close().await;
    watched.end("malformed request head").await;
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
async fn headers_on_an_answered_connect_stream_are_frame_unexpected() {
    let watched = Watched::start(Http3Config::default(), true).await;
    let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
    let mut session = attacker.wt_connect("/wt").await;
    assert_eq!(session.status(), 200);
    // RFC 9114 §4.4: only DATA may follow the CONNECT.
    session
        .send
        .write_all(&h3_trailers_frame(&[("x-late", b"1")]))
        .await
        .unwrap();
    assert_closed(
        attacker,
        H3_FRAME_UNEXPECTED,
        "HEADERS on a WebTransport session",
    )
    .await;
    watched.end("HEADERS on a CONNECT stream").await;
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

#[tokio::test]
async fn malformed_capsules_on_a_session_stream_are_message_errors() {
    let watched = Watched::start(Http3Config::default(), true).await;
    // CLOSE_WEBTRANSPORT_SESSION (0x2843) with 3 bytes, too few for its code; a capsule cut
    // short by the end of the stream (RFC 9297 §3.3).
    let mut short_close = Vec::new();
    quic_varint(0x2843, &mut short_close);
    quic_varint(3, &mut short_close);
    short_close.extend_from_slice(&[0, 0, 7]);
    let mut cut = Vec::new();
    quic_varint(0x29, &mut cut);
    quic_varint(10, &mut cut);
    cut.extend_from_slice(b"abc");
    for (what, capsules, fin) in [
        ("a close capsule too short for its code", short_close, false),
        ("a capsule cut short by the end of the stream", cut, true),
    ] {
        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        let mut session = attacker.wt_connect("/wt").await;
        assert_eq!(session.status(), 200, "{what}");
        session
            .send
            .write_all(&h3_frame(H3_DATA, &capsules))
            .await
            .unwrap();
        if fin {
            session.send.finish().unwrap();
        }
        let ended = read_to_end(&mut session.recv, REACTION).await;
        assert_eq!(
            ended,
            Ended::Reset(H3_MESSAGE_ERROR),
            "{what}: {}",
            describe(&ended)
        );
        attacker.assert_serves(what).await;
        attacker.close().await;
    }
    watched.end("malformed capsules").await;
}
