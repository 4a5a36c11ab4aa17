//! The wtransport crate's client (0.7, an independent Rust implementation of WebTransport
//! over HTTP/3 that offers draft-02 and draft-07 at once) against twinport-quinn: it
//! negotiates draft-07 and echoes a bidirectional stream, a unidirectional stream and a
//! datagram.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tokio::sync::mpsc;
use twinport_quinn::webtransport::{WebTransportDraft, WebTransportSession};
use twinport_quinn::Http3;
use twinport_testkit::apps::example::wt_echo;
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki};

async fn read_all(recv: &mut wtransport::RecvStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Some(n) = recv.read(&mut buf).await.unwrap() {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[tokio::test]
async fn the_wtransport_client_negotiates_draft07_and_echoes() {
    init_tracing();
    let (tx, mut drafts) = mpsc::unbounded_channel();
    let endpoint = Http3::builder(&Pki::get().server_tls())
        .http3()
        .webtransport("/wt", move |session: WebTransportSession| {
            // Which draft the session speaks, then the example's echo.
            let _ = tx.send(session.draft());
            wt_echo(session)
        })
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap();
    let server = serve_http3(endpoint);

    let config = wtransport::ClientConfig::builder()
        .with_bind_address("127.0.0.1:0".parse().unwrap())
        .with_custom_tls(Pki::get().client_tls(&[b"h3"], None))
        .build();
    let client = wtransport::Endpoint::client(config).unwrap();
    let url = format!("https://localhost:{}/wt", server.addr.port());
    let conn = bounded(30, "the wtransport session", client.connect(&url))
        .await
        .unwrap();
    let draft = bounded(10, "the session's draft", drafts.recv()).await;
    assert_eq!(draft, Some(WebTransportDraft::Draft07));

    let (mut send, mut recv) = conn.open_bi().await.unwrap().await.unwrap();
    send.write_all(b"hello bidi").await.unwrap();
    send.finish().await.unwrap();
    assert_eq!(
        bounded(10, "bidi echo", read_all(&mut recv)).await,
        b"hello bidi"
    );

    let mut uni = conn.open_uni().await.unwrap().await.unwrap();
    uni.write_all(b"hello uni").await.unwrap();
    uni.finish().await.unwrap();
    let mut back = bounded(10, "the server's uni stream", conn.accept_uni())
        .await
        .unwrap();
    assert_eq!(
        bounded(10, "uni echo", read_all(&mut back)).await,
        b"hello uni"
    );

    let datagram = bounded(10, "datagram echo", async {
        loop {
            conn.send_datagram(b"hello datagram").unwrap();
            let wait = Duration::from_millis(300);
            if let Ok(Ok(d)) = tokio::time::timeout(wait, conn.receive_datagram()).await {
                break d.payload().to_vec();
            }
        }
    })
    .await;
    assert_eq!(datagram, b"hello datagram");

    conn.close(0u32.into(), b"done");
    server.stop(Duration::from_secs(2)).await;
}
