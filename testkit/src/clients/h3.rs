//! An HTTP/3 client (h3 + h3-quinn) on one connection.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request, StatusCode};
use tokio::task::JoinHandle;
use twinport_quinn::quinn;

use super::quic::quic_connect_as;
use crate::pki::{Id, Pki};
use crate::time::{bounded, within};

/// The request side of an h3 client.
pub type SendRequest = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// An HTTP/3 connection.
pub struct H3 {
    /// The client's endpoint.
    pub endpoint: quinn::Endpoint,
    /// The QUIC connection.
    pub conn: quinn::Connection,
    /// Opens requests (clone it for concurrent ones).
    pub send: SendRequest,
    /// The task driving the h3 connection.
    pub driver: JoinHandle<()>,
}

impl H3 {
    /// An HTTP/3 connection to `addr`, presenting `id`.
    pub async fn connect(addr: SocketAddr, id: Option<&Id>) -> Result<Self, String> {
        Self::connect_with(addr, Pki::get().quic_client(id)).await
    }

    /// An HTTP/3 connection with a client configuration of its own.
    pub async fn connect_with(
        addr: SocketAddr,
        config: quinn::ClientConfig,
    ) -> Result<Self, String> {
        Self::connect_as(addr, config, "localhost").await
    }

    /// An HTTP/3 connection asking for `server_name` in the SNI.
    pub async fn connect_as(
        addr: SocketAddr,
        config: quinn::ClientConfig,
        server_name: &str,
    ) -> Result<Self, String> {
        let (endpoint, conn) = quic_connect_as(addr, config, server_name)
            .await
            .map_err(|e| format!("QUIC handshake: {e}"))?;
        let (mut driver, send) = within(h3::client::new(h3_quinn::Connection::new(conn.clone())))
            .await
            .map_err(|e| format!("h3 setup: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok(Self {
            endpoint,
            conn,
            send,
            driver,
        })
    }

    /// The client's own UDP port.
    pub fn local_port(&self) -> u16 {
        self.endpoint.local_addr().unwrap().port()
    }

    /// `GET path`, which must get a whole reply.
    pub async fn get(&mut self, path: &str) -> Reply {
        let req = Request::get(uri(path)).body(()).unwrap();
        self.send(req, Bytes::new(), None).await.expect("GET")
    }

    /// Sends `req` with `body` (and `trailers`), and reads the whole reply.
    pub async fn send(
        &mut self,
        req: Request<()>,
        body: Bytes,
        trailers: Option<HeaderMap>,
    ) -> Result<Reply, h3::error::StreamError> {
        let mut send = self.send.clone();
        bounded(60, "HTTP/3 request", async move {
            let mut stream = send.send_request(req).await?;
            if !body.is_empty() {
                stream.send_data(body).await?;
            }
            if let Some(t) = trailers {
                stream.send_trailers(t).await?;
            }
            stream.finish().await?;
            read_reply(&mut stream).await
        })
        .await
    }

    /// `method path` with `body`: the status and body, or what went wrong.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        let req = Request::builder()
            .method(method)
            .uri(uri(path))
            .body(())
            .unwrap();
        let reply = self
            .send(req, body, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok((reply.status.as_u16(), Bytes::from(reply.body)))
    }

    /// Closes the connection and waits (briefly) for the endpoint to go idle.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"done");
        self.driver.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

/// `https://localhost{path}`.
pub fn uri(path: &str) -> http::Uri {
    format!("https://localhost{path}").parse().unwrap()
}

/// A whole HTTP/3 response.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The header fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// The trailer fields, if any came.
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Reads the response on `stream` to its end.
pub async fn read_reply<S>(
    stream: &mut h3::client::RequestStream<S, Bytes>,
) -> Result<Reply, h3::error::StreamError>
where
    S: h3::quic::RecvStream,
{
    let head = stream.recv_response().await?;
    let mut body = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await? {
        while chunk.has_remaining() {
            let c = chunk.chunk();
            body.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    let trailers = stream.recv_trailers().await?;
    Ok(Reply {
        status: head.status(),
        headers: head.headers().clone(),
        body,
        trailers,
    })
}
