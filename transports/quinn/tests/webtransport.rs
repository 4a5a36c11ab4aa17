//! WebTransport end-to-end with a Rust client: h3 for the extended CONNECT and ordinary
//! requests, raw quinn streams and datagrams for the session (the draft-02 wire format).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::{Error, Http3};
use twinport_testkit::*;

const REJECTED: u32 = 0x3994_bd84;

/// Echoes bidirectional streams and datagrams.
async fn echo(session: WebTransportSession) -> Result<(), twinport::BoxError> {
    loop {
        tokio::select! {
            Some((mut send, mut recv)) = session.accept_bi() => {
                let data = recv.read_to_end(1 << 16).await?;
                send.write_all(&data).await?;
                send.finish()?;
            }
            Some(d) = session.read_datagram() => session.send_datagram(d)?,
            else => return Ok(()),
        }
    }
}

fn endpoint(pki: &Pki) -> Http3 {
    Http3::builder(&pki.server_tls())
        .http3()
        .webtransport("/wt", echo)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

fn connect_request(path: &str) -> Request<()> {
    let mut req = Request::connect(uri(path)).body(()).unwrap();
    req.extensions_mut()
        .insert(h3::ext::Protocol::WEB_TRANSPORT);
    req
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
    let mut client = H3::connect(server.addr, None).await.unwrap();

    // The session: an extended CONNECT, answered 200 with the draft-02 header.
    let mut send = client.send.clone();
    let mut connect = bounded(10, "CONNECT", send.send_request(connect_request("/wt")))
        .await
        .unwrap();
    let head = bounded(10, "CONNECT response", connect.recv_response())
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["sec-webtransport-http3-draft"], "draft02");
    let session = connect.id().into_inner();

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
    let reply = client.get("/info").await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = client
        .send(
            Request::post(uri("/echo")).body(()).unwrap(),
            Bytes::from_static(b"plain request"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(reply.text(), "plain request");

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
    let mut other = bounded(10, "CONNECT", send.send_request(connect_request("/nope")))
        .await
        .unwrap();
    let head = bounded(10, "CONNECT response", other.recv_response())
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);

    // The client ends the session: the server finishes the CONNECT stream too.
    connect.finish().await.unwrap();
    let end = bounded(10, "session end", connect.recv_data())
        .await
        .unwrap();
    assert!(end.is_none(), "the server ended the CONNECT stream");

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
    let client = H3::connect(server.addr, None).await.unwrap();
    let mut send = client.send.clone();
    let mut connect = bounded(10, "CONNECT", send.send_request(connect_request("/wt")))
        .await
        .unwrap();
    let head = bounded(10, "CONNECT response", connect.recv_response())
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);

    let stopping = tokio::spawn(server.stop(Duration::from_secs(20)));
    // DRAIN_WEBTRANSPORT_SESSION, then CLOSE_WEBTRANSPORT_SESSION (code 0), then the end.
    let capsules = bounded(10, "capsules", async {
        let mut all = Vec::new();
        while let Some(mut chunk) = connect.recv_data().await.unwrap() {
            use bytes::Buf;
            all.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        all
    })
    .await;
    let drain = [0x80, 0x00, 0x78, 0xae, 0x00];
    let close = [0x68, 0x43, 0x04, 0, 0, 0, 0];
    assert_eq!(capsules, [&drain[..], &close[..]].concat());
    // Nothing was left for the deadline to cut.
    let report = bounded(10, "server stop", stopping).await.unwrap();
    assert_eq!(report.cut, 0);
    client.close().await;
}
