//! WebTransport end-to-end with a raw Rust client (a draft-02 client's SETTINGS, the extended
//! CONNECT, ordinary requests, quinn streams and datagrams for the session; h3 0.0.8's client
//! cannot announce WebTransport).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::{Error, Http3};
use twinport_testkit::apps::example::wt_echo as echo;
use twinport_testkit::frames::{
    h3_frame, h3_frames, h3_request_frame, quic_varint, H3_DATA, H3_HEADERS,
};
use twinport_testkit::raw::{describe, is_200_with, Ended, RawH3, WT_DRAFT02};
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki};

const REJECTED: u32 = 0x3994_bd84;

fn endpoint(pki: &Pki) -> Http3 {
    Http3::builder(&pki.server_tls())
        .http3()
        .webtransport("/wt", echo)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

#[test]
fn builder_refuses_bad_webtransport_registrations() {
    let pki = Pki::get();
    let tls = pki.server_tls();
    let bind = |b: twinport_quinn::Builder| b.bind("127.0.0.1:0".parse().unwrap());
    let err = bind(Http3::builder(&tls).http3().webtransport("wt", echo)).unwrap_err();
    assert!(matches!(err, Error::InvalidWebTransportPath(p) if p == "wt"));
    let err = bind(
        Http3::builder(&tls)
            .http3()
            .webtransport("/wt", echo)
            .webtransport("/wt", echo),
    )
    .unwrap_err();
    assert!(matches!(err, Error::DuplicateWebTransportPath(p) if p == "/wt"));
    let raw = |_: twinport_quinn::QuicConnection| async { Ok::<_, twinport::BoxError>(()) };
    let err = bind(
        Http3::builder(&tls)
            .route(b"raw", raw)
            .webtransport("/wt", echo),
    )
    .unwrap_err();
    assert!(matches!(err, Error::WebTransportWithoutHttp3), "{err}");
}

#[tokio::test]
async fn a_session_echoes_beside_requests_and_strays_are_refused() {
    init_tracing();
    let pki = Pki::get();
    let server = serve_http3(endpoint(pki));
    let client = RawH3::with_settings(server.addr, WT_DRAFT02).await;

    // The session: an extended CONNECT, answered 200 with the draft-02 header.
    let mut connect = client.wt_connect("/wt").await;
    assert_eq!(connect.status(), 200);
    assert!(connect.has_field("sec-webtransport-http3-draft", "draft02"));
    let session = connect.id;

    // A bidirectional stream of the session, echoed.
    let (mut s, mut r) = client.conn.open_bi().await.unwrap();
    let mut head = Vec::new();
    quic_varint(0x41, &mut head);
    quic_varint(session, &mut head);
    head.extend_from_slice(b"hello stream");
    s.write_all(&head).await.unwrap();
    s.finish().unwrap();
    let echoed = bounded(10, "stream echo", r.read_to_end(1024))
        .await
        .unwrap();
    assert_eq!(echoed, b"hello stream");

    // A datagram: quarter stream id, then the payload.
    let mut dg = Vec::new();
    quic_varint(session / 4, &mut dg);
    dg.extend_from_slice(b"hello datagram");
    let dg = Bytes::from(dg);
    let back = bounded(10, "datagram echo", async {
        loop {
            client.conn.send_datagram(dg.clone()).unwrap();
            if let Ok(Ok(d)) =
                tokio::time::timeout(Duration::from_millis(300), client.conn.read_datagram()).await
            {
                break d;
            }
        }
    })
    .await;
    assert_eq!(back, dg);

    // Ordinary requests on the same connection, while the session is open.
    match client.request(&h3_request_frame("GET", "/info", &[])).await {
        Ended::Finished(reply) => {
            let frames = h3_frames(&reply);
            assert!(
                frames[0].0 == H3_HEADERS && frames[0].1.contains(&0xd9),
                "{reply:?}"
            );
        }
        other => panic!("GET /info: {}", describe(&other)),
    }
    let post = [
        h3_request_frame("POST", "/echo", &[]),
        h3_frame(H3_DATA, b"plain request"),
    ]
    .concat();
    match client.request(&post).await {
        Ended::Finished(reply) => assert!(is_200_with(&reply, b"plain request"), "{reply:?}"),
        other => panic!("POST /echo: {}", describe(&other)),
    }

    // A stream for a session that does not exist is refused.
    let (mut s, mut r) = client.conn.open_bi().await.unwrap();
    let mut head = Vec::new();
    quic_varint(0x41, &mut head);
    quic_varint(session + 400, &mut head);
    s.write_all(&head).await.unwrap();
    let refused = bounded(10, "stray stream", r.read_to_end(1024)).await;
    assert!(
        matches!(refused, Err(quinn::ReadToEndError::Read(quinn::ReadError::Reset(c))) if c.into_inner() == u64::from(REJECTED)),
        "{refused:?}"
    );
    let mut uni = client.conn.open_uni().await.unwrap();
    let mut head = Vec::new();
    quic_varint(0x54, &mut head);
    quic_varint(session + 400, &mut head);
    uni.write_all(&head).await.unwrap();
    let stopped = bounded(10, "stray uni stream", uni.stopped())
        .await
        .unwrap();
    assert_eq!(stopped.map(|c| c.into_inner()), Some(u64::from(REJECTED)));

    // An unregistered path: 404, no session.
    assert_eq!(client.wt_connect("/nope").await.status(), 404);

    // The client ends the session: the server finishes the CONNECT stream too.
    connect.send.finish().unwrap();
    let end = connect.read_rest(Duration::from_secs(10)).await.unwrap();
    assert!(
        end.is_empty(),
        "the server ended the CONNECT stream: {end:?}"
    );

    client.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn shutdown_sends_drain_and_the_session_closes_before_the_deadline() {
    init_tracing();
    let pki = Pki::get();
    // Wraps up when the server drains, closing with code 0.
    let handler = |session: WebTransportSession| async move {
        let _ = session.shutdown().draining().await;
        Ok::<_, twinport::BoxError>(())
    };
    let endpoint = Http3::builder(&pki.server_tls())
        .http3()
        .webtransport("/wt", handler)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);
    let client = RawH3::with_settings(server.addr, WT_DRAFT02).await;
    let mut connect = client.wt_connect("/wt").await;
    assert_eq!(connect.status(), 200);

    let stopping = tokio::spawn(server.stop(Duration::from_secs(20)));
    // DRAIN_WEBTRANSPORT_SESSION, then CLOSE_WEBTRANSPORT_SESSION (code 0), then the end.
    let frames = connect.read_rest(Duration::from_secs(10)).await.unwrap();
    let capsules: Vec<u8> = frames
        .iter()
        .filter(|(ty, _)| *ty == H3_DATA)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    // Like a browser, the client ends its side in turn.
    connect.send.finish().unwrap();
    let drain = [0x80, 0x00, 0x78, 0xae, 0x00];
    let close = [0x68, 0x43, 0x04, 0, 0, 0, 0];
    assert_eq!(capsules, [&drain[..], &close[..]].concat());
    // Nothing was left for the deadline to cut.
    let report = bounded(10, "server stop", stopping).await.unwrap();
    assert_eq!(report.cut, 0);
    client.close().await;
}
