//! Each stream, capsule or datagram that the WebTransport draft (draft-ietf-webtrans-http3)
//! or RFC 9297 make an error ends the offender's connection or stream with the code they
//! name, sent from a raw QUIC connection ([`RawH3`]) while a well-behaved client on another
//! connection is served throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod watched;

use std::time::Duration;

use bytes::Bytes;
use twinport_quinn::Http3Config;
use twinport_testkit::codes::{
    H3_DATAGRAM_ERROR, H3_FRAME_UNEXPECTED, H3_ID_ERROR, H3_MESSAGE_ERROR,
};
use twinport_testkit::frames::{h3_frame, h3_trailers_frame, quic_varint, H3_DATA};
use twinport_testkit::raw::{describe, read_to_end, stopped_within, Ended, RawH3, WT_DRAFT02};
use watched::{assert_closed, Watched, REACTION};

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

#[tokio::test]
async fn a_webtransport_connect_with_content_headers_is_malformed() {
    let watched = Watched::start(Http3Config::default(), true).await;
    for (name, value) in [
        ("content-type", &b"text/plain"[..]),
        ("content-length", b"0"),
    ] {
        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        // RFC 9297 §3.2: the capsule protocol's messages carry neither.
        let session = attacker
            .extended_connect(
                "/wt",
                &[
                    (":protocol", b"webtransport"),
                    ("sec-webtransport-http3-draft02", b"1"),
                    (name, value),
                ],
            )
            .await;
        assert_eq!(session.status(), 400, "{name}");
        let stopped = stopped_within(&session.send, REACTION).await;
        assert_eq!(
            stopped,
            Ended::Stopped(H3_MESSAGE_ERROR),
            "{name}: {}",
            describe(&stopped)
        );
        attacker.assert_serves(name).await;
        attacker.close().await;
    }
    watched
        .end("WebTransport CONNECT with content headers")
        .await;
}

#[tokio::test]
async fn data_after_the_clients_close_capsule_is_a_message_error() {
    let watched = Watched::start(Http3Config::default(), true).await;
    // CLOSE_WEBTRANSPORT_SESSION (0x2843), code 7, reason "bye"; then an unknown capsule.
    let mut close = Vec::new();
    quic_varint(0x2843, &mut close);
    quic_varint(7, &mut close);
    close.extend_from_slice(&[0, 0, 0, 7]);
    close.extend_from_slice(b"bye");
    let more = h3_frame(H3_DATA, &[0x29, 0x01, 0xaa]);
    for (what, pause) in [("in the same write", false), ("a moment later", true)] {
        let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
        let mut session = attacker.wt_connect("/wt").await;
        assert_eq!(session.status(), 200, "{what}");
        let mut bytes = h3_frame(H3_DATA, &close);
        if pause {
            session.send.write_all(&bytes).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            bytes.clear();
        }
        bytes.extend_from_slice(&more);
        session.send.write_all(&bytes).await.unwrap();
        // The drafts: only the FIN may follow a close capsule.
        let stopped = stopped_within(&session.send, REACTION).await;
        assert_eq!(
            stopped,
            Ended::Stopped(H3_MESSAGE_ERROR),
            "{what}: {}",
            describe(&stopped)
        );
        attacker.assert_serves(what).await;
        attacker.close().await;
    }
    // A close capsule and the FIN end the session cleanly.
    let attacker = RawH3::with_settings(watched.addr(), WT_DRAFT02).await;
    let mut session = attacker.wt_connect("/wt").await;
    session
        .send
        .write_all(&h3_frame(H3_DATA, &close))
        .await
        .unwrap();
    session.send.finish().unwrap();
    let ended = read_to_end(&mut session.recv, REACTION).await;
    assert!(matches!(ended, Ended::Finished(_)), "{}", describe(&ended));
    attacker.close().await;
    watched.end("data after the close capsule").await;
}
