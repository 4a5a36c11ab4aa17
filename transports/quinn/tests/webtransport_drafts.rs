//! WebTransport on the wire with a raw HTTP/3 client: the draft the server speaks for the
//! client's SETTINGS, CONNECTs that come before the SETTINGS, clients that enable no draft,
//! and how the server closes a session (capsule, FIN, and no STOP_SENDING before the
//! client's FIN).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use twinport_quinn::webtransport::WebTransportSession;
use twinport_quinn::Http3;
use twinport_testkit::frames::{h3_frame, h3_frames, h3_request_frame, h3_settings, H3_DATA};
use twinport_testkit::raw::{describe, Ended, RawH3, WT_DRAFT02, WT_DRAFT07};
use twinport_testkit::servers::{serve_http3, Http3Server};
use twinport_testkit::{bounded, init_tracing, Pki};

/// Closes every session at once with code 4242 and, as the reason, the draft it speaks.
async fn says_its_draft(session: WebTransportSession) -> Result<(), twinport::BoxError> {
    session.close(4242, session.draft().as_str());
    Ok(())
}

fn server() -> Http3Server {
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .webtransport("/wt", says_its_draft)
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    serve_http3(endpoint)
}

/// The CLOSE_WEBTRANSPORT_SESSION capsule with code 4242 and `reason`.
fn close_capsule(reason: &str) -> Vec<u8> {
    let mut capsule = vec![0x68, 0x43, 4 + reason.len() as u8];
    capsule.extend_from_slice(&4242u32.to_be_bytes());
    capsule.extend_from_slice(reason.as_bytes());
    capsule
}

/// Opens a session with `settings`; the response's status, whether it carried draft-02's
/// header, and the reason of the server's close (the draft the session spoke).
async fn session_with(settings: &[(u64, u64)]) -> (u16, bool, Option<String>) {
    let server = server();
    let raw = RawH3::with_settings(server.addr, settings).await;
    let mut session = raw.wt_connect("/wt").await;
    let status = session.status();
    let draft02 = session.has_field("sec-webtransport-http3-draft", "draft02");
    let frames = session.read_rest(Duration::from_secs(10)).await.unwrap();
    let reason = (status == 200).then(|| {
        let data: Vec<u8> = frames
            .iter()
            .filter(|(ty, _)| *ty == H3_DATA)
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        assert_eq!(&data[..3], &[0x68, 0x43, data[2]], "a close capsule");
        String::from_utf8(data[7..].to_vec()).unwrap()
    });
    raw.close().await;
    server.stop(Duration::from_secs(2)).await;
    (status, draft02, reason)
}

#[tokio::test]
async fn the_highest_draft_both_sides_offer_is_spoken() {
    init_tracing();
    // A draft-02 client (Firefox, aioquic): draft-02, with its response header.
    let (status, header, draft) = session_with(WT_DRAFT02).await;
    assert_eq!((status, header), (200, true));
    assert_eq!(draft.as_deref(), Some("draft-02"));
    // A client offering draft-02 and draft-07 (wtransport, Chromium with the flag): draft-07,
    // without draft-02's header.
    let (status, header, draft) = session_with(WT_DRAFT07).await;
    assert_eq!((status, header), (200, false));
    assert_eq!(draft.as_deref(), Some("draft-07"));
    // draft-07 alone.
    let (status, _, draft) = session_with(&[(0x8, 1), (0x33, 1), (0xc671_706a, 4)]).await;
    assert_eq!(status, 200);
    assert_eq!(draft.as_deref(), Some("draft-07"));
}

#[tokio::test]
async fn a_client_that_enables_no_draft_gets_400_with_the_reason() {
    init_tracing();
    let server = server();
    // Extended CONNECT and datagrams, but neither WebTransport setting (h3 0.0.8's client).
    let raw = RawH3::with_settings(server.addr, &[(0x8, 1), (0x33, 1)]).await;
    let mut session = raw.wt_connect("/wt").await;
    assert_eq!(session.status(), 400);
    let frames = session.read_rest(Duration::from_secs(10)).await.unwrap();
    let body: Vec<u8> = frames
        .iter()
        .filter(|(ty, _)| *ty == H3_DATA)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("enable no WebTransport draft"), "{body}");
    // The connection serves on.
    match raw.request(&h3_request_frame("GET", "/info", &[])).await {
        Ended::Finished(reply) => assert!(h3_frames(&reply)[0].1.contains(&0xd9), "{reply:?}"),
        other => panic!("GET /info after the refused CONNECT: {}", describe(&other)),
    }
    raw.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_connect_ahead_of_the_settings_waits_for_them() {
    init_tracing();
    let server = server();
    let mut raw = RawH3::connect(server.addr).await;
    // The CONNECT goes first; answered before the SETTINGS, it could only be refused.
    let connecting = {
        let raw = &raw;
        async move { raw.wt_connect("/wt").await }
    };
    let control = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        raw.control(&h3_settings(WT_DRAFT07)).await
    };
    let (mut session, control) = tokio::join!(connecting, control);
    raw.control = Some(control);
    assert_eq!(session.status(), 200);
    let frames = session.read_rest(Duration::from_secs(10)).await.unwrap();
    assert_eq!(frames.last().unwrap().1, close_capsule("draft-07"));
    raw.close().await;
    server.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn the_server_closes_with_a_capsule_and_fin_and_reads_on_to_the_clients_fin() {
    init_tracing();
    let server = server();
    let raw = RawH3::with_settings(server.addr, WT_DRAFT02).await;
    let mut session = raw.wt_connect("/wt").await;
    assert_eq!(session.status(), 200);
    // The capsule in a DATA frame, then FIN.
    let frames = session.read_rest(Duration::from_secs(10)).await.unwrap();
    assert_eq!(frames, [(H3_DATA, close_capsule("draft-02"))]);
    // No STOP_SENDING came with it (the browsers take one for an unclean close): the client
    // can still send on the CONNECT stream, and its FIN is read, not refused.
    session
        .send
        .write_all(&h3_frame(H3_DATA, &[0x29, 0x01, 0x00]))
        .await
        .expect("the CONNECT stream is not stopped");
    session.send.finish().unwrap();
    let stopped = bounded(10, "the client's FIN acknowledged", session.send.stopped()).await;
    assert_eq!(stopped.map(|c| c.map(|c| c.into_inner())), Ok(None));
    raw.close().await;
    server.stop(Duration::from_secs(2)).await;
}
