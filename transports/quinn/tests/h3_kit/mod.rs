//! The fixture of the HTTP/3 end-to-end tests: the info app on an endpoint of its own, an
//! h3 + h3-quinn client, and the raw-QUIC echo protocol served beside HTTP/3.

// Each test binary uses its own share of these.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use twinport_quinn::{Http3, QuicConnection};
use twinport_testkit::clients::{read_reply, uri, Reply, SendRequest, H3};
use twinport_testkit::servers::{serve_http3, Http3Server};
use twinport_testkit::{bounded, init_tracing, Pki};

/// Where every test server binds.
pub fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// An HTTP/3 endpoint with `tls` on 127.0.0.1.
pub fn h3_endpoint(tls: &twinport::ServerTls) -> Http3 {
    Http3::bind(localhost(), tls).unwrap()
}

/// The info app on a default endpoint, and an h3 client connected to it.
pub async fn serve_info() -> (Http3Server, H3) {
    init_tracing();
    let server = serve_http3(h3_endpoint(&Pki::get().server_tls()));
    let client = H3::connect(server.addr, None).await.unwrap();
    (server, client)
}

/// A request stream of the h3 client.
pub type Stream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// Opens `req` on `send` without finishing it, within 10 s.
pub async fn open(send: &mut SendRequest, req: Request<()>) -> Stream {
    bounded(10, "a request stream", send.send_request(req))
        .await
        .unwrap()
}

/// Closes `client`, then stops `server` with a 2 s grace period: the drain report.
pub async fn close_and_stop(server: Http3Server, client: H3) -> twinport::DrainReport {
    client.close().await;
    server.stop(Duration::from_secs(2)).await
}

/// Sends `req`, with `body` unless it is empty, on a clone of a connection's sender and
/// reads the whole reply (or the first error).
pub async fn send_on(
    mut send: SendRequest,
    req: Request<()>,
    body: Bytes,
) -> Result<Reply, h3::error::StreamError> {
    let mut stream = send.send_request(req).await?;
    if !body.is_empty() {
        stream.send_data(body).await?;
    }
    stream.finish().await?;
    read_reply(&mut stream).await
}

/// `GET path` on a clone of a connection's sender; the future owns what it needs, so it can
/// be spawned.
pub fn get_on(
    send: SendRequest,
    path: &str,
) -> impl Future<Output = Result<Reply, h3::error::StreamError>> + 'static {
    send_on(
        send,
        Request::get(uri(path)).body(()).unwrap(),
        Bytes::new(),
    )
}

/// The raw-QUIC protocol `echo/1`: each bidirectional stream is answered with the ALPN
/// protocol, a colon, and what came.
pub async fn echo(conn: QuicConnection) -> Result<(), twinport::BoxError> {
    let info = conn.connection_info().clone();
    let conn = conn.connection().clone();
    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
        let data = recv.read_to_end(1024 * 1024).await?;
        let alpn = info.alpn_str().unwrap_or("").to_owned();
        send.write_all(format!("{alpn}:").as_bytes()).await?;
        send.write_all(&data).await?;
        send.finish()?;
    }
    Ok(())
}
