//! hyper's client on one HTTP/1.1 or HTTP/2 connection (over TLS, TCP or a Unix socket).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use twinport::BoxError;

use super::tls::{tls_connect, tls_connect_killable};
use super::{ClientBody, Proto};
use crate::pki::Id;
use crate::time::within;

/// One HTTP/1.1 or HTTP/2 connection.
pub enum Hyper {
    /// HTTP/1.1.
    H1(hyper::client::conn::http1::SendRequest<ClientBody>),
    /// HTTP/2.
    H2(hyper::client::conn::http2::SendRequest<ClientBody>),
}

/// Whether `proto` is HTTP/2; hyper's client speaks no HTTP/3.
fn is_h2(proto: Proto) -> bool {
    assert!(
        proto != Proto::H3,
        "hyper's client speaks HTTP/1.1 and HTTP/2"
    );
    proto == Proto::H2
}

impl Hyper {
    /// A TLS connection to `addr` speaking `proto` (HTTP/1.1 or HTTP/2, by ALPN) and
    /// presenting `id`, and the task that drives it.
    pub async fn connect(
        addr: SocketAddr,
        proto: Proto,
        id: Option<&Id>,
    ) -> Result<(Self, JoinHandle<()>), String> {
        let tls = tls_connect(addr, &[proto.alpn()], id)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Self::handshake(tls, proto)
            .await
            .map_err(|e| format!("handshake: {e}"))
    }

    /// A connection whose socket the returned handle can kill.
    pub async fn connect_killable(
        addr: SocketAddr,
        proto: Proto,
    ) -> (Self, JoinHandle<()>, std::net::TcpStream) {
        let (tls, kill) = tls_connect_killable(addr, &[proto.alpn()]).await.unwrap();
        let (c, task) = Self::handshake(tls, proto).await.unwrap();
        (c, task, kill)
    }

    /// `proto` on `io` (HTTP/2 with prior knowledge, or HTTP/1.1), and the task that drives
    /// the connection (dropping the handle leaves it running).
    pub async fn handshake<IO>(io: IO, proto: Proto) -> hyper::Result<(Self, JoinHandle<()>)>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if is_h2(proto) {
            let handshake = hyper::client::conn::http2::handshake(TokioExecutor::new(), io);
            let (send, conn) = within(handshake).await?;
            let task = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok((Self::H2(send), task))
        } else {
            let (send, conn) = within(hyper::client::conn::http1::handshake(io)).await?;
            let task = tokio::spawn(async move {
                let _ = conn.with_upgrades().await;
            });
            Ok((Self::H1(send), task))
        }
    }

    /// Whether this is HTTP/2.
    pub fn is_h2(&self) -> bool {
        matches!(self, Self::H2(_))
    }

    /// A request for `path` in the form the protocol wants, with any body (such as
    /// [`empty()`](super::empty) or a `StreamBody` of the test's own).
    pub fn request<B>(&self, method: &str, path: &str, body: B) -> http::Request<ClientBody>
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let b = http::Request::builder().method(method);
        let b = match self {
            Self::H2(_) => b.uri(format!("https://localhost{path}")),
            Self::H1(_) => b.uri(path).header("host", "localhost"),
        };
        b.body(body.map_err(Into::into).boxed()).unwrap()
    }

    /// Waits until the connection can take a request.
    pub async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Self::H1(s) => s.ready().await,
            Self::H2(s) => s.ready().await,
        }
    }

    /// Sends `req` once the connection is ready; the response head.
    pub async fn send(
        &mut self,
        req: http::Request<ClientBody>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        within(self.ready()).await?;
        match self {
            Self::H1(s) => within(s.send_request(req)).await,
            Self::H2(s) => within(s.send_request(req)).await,
        }
    }

    /// `GET path`, which must answer 200 with JSON.
    pub async fn get_json(&mut self, path: &str) -> serde_json::Value {
        let req = self.request("GET", path, super::empty());
        let res = self.send(req).await.unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        let body = within(res.into_body().collect()).await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }
}
