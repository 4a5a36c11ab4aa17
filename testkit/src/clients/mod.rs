//! Well-behaved clients: hyper's on HTTP/1.1 and HTTP/2 over TLS ([`Hyper`]), h3's on
//! HTTP/3 ([`H3`]), bare TLS and QUIC connections (and which certificate they were served),
//! and [`fetch`] / [`served`] for "is a normal client served?". Clients that misbehave on
//! purpose are in [`raw`](crate::raw).

mod h3;
mod hyper;
mod quic;
mod sni;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use tokio::task::JoinHandle;
use twinport::BoxError;

pub use self::h3::{read_reply, uri, Reply, SendRequest, H3};
pub use self::hyper::Hyper;
pub use self::quic::{
    quic_client_trusting, quic_connect, quic_connect_as, quic_first_flight, quic_raw,
};
pub use self::sni::{
    normalize_serial, quic_serial, serial_hex, tls_connect_as, tls_connect_with, tls_serial,
};
pub use self::tls::{local_port, tls_connect, tls_connect_killable, tls_over};
use crate::pki::Id;

/// The request body of [`Hyper`] requests.
pub type ClientBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> ClientBody {
    Empty::new().map_err(|e| match e {}).boxed()
}

/// A body of `b`.
pub fn full(b: impl Into<Bytes>) -> ClientBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// A protocol a well-behaved client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 over TLS.
    H1,
    /// HTTP/2 over TLS.
    H2,
    /// HTTP/3.
    H3,
}

/// Every [`Proto`].
pub const ALL: [Proto; 3] = [Proto::H1, Proto::H2, Proto::H3];

/// The protocols over TCP and TLS.
pub const TCP: [Proto; 2] = [Proto::H1, Proto::H2];

impl Proto {
    /// Its ALPN protocol id.
    pub fn alpn(self) -> &'static [u8] {
        match self {
            Proto::H1 => b"http/1.1",
            Proto::H2 => b"h2",
            Proto::H3 => b"h3",
        }
    }
}

/// One request on a fresh connection of `proto`: the status and body, or what went wrong.
pub async fn fetch(
    addr: SocketAddr,
    proto: Proto,
    method: &str,
    path: &str,
    id: Option<&Id>,
) -> Result<(u16, Bytes), String> {
    let work = async {
        match proto {
            Proto::H3 => {
                let mut c = H3::connect(addr, id).await?;
                let r = c.request(method, path, Bytes::new()).await;
                c.close().await;
                r
            }
            Proto::H1 | Proto::H2 => {
                let (mut c, task) = Hyper::connect(addr, proto, id).await?;
                let req = c.request(method, path, empty());
                let res = c.send(req).await.map_err(|e| format!("request: {e}"))?;
                let status = res.status().as_u16();
                let body = res
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?
                    .to_bytes();
                task.abort();
                Ok((status, body))
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .unwrap_or_else(|_| Err(format!("{proto:?} {method} {path}: no answer in 30 s")))
}

/// The well-behaved client: `GET /ok` on HTTP/1.1, HTTP/2 and HTTP/3 must answer `200 ok`.
pub async fn served(addr: SocketAddr, when: &str) {
    for proto in ALL {
        let got = fetch(addr, proto, "GET", "/ok", None).await;
        match got {
            Ok((200, body)) if body == "ok" => {}
            other => panic!("{when}: a well-behaved {proto:?} client was not served: {other:?}"),
        }
    }
}

/// Runs the well-behaved client in a loop until `stop` is set; returns how many rounds
/// succeeded, panicking on the first failure.
pub fn served_meanwhile(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rounds = 0;
        while !stop.load(Ordering::SeqCst) {
            served(addr, "during the attack").await;
            rounds += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rounds
    })
}

/// One HTTP/3 connection of the well-behaved client, kept open: `GET /ok` on it every 50 ms
/// until `stop` is set (at least once), each within 10 s; returns how many rounds succeeded,
/// panicking on the first failure.
pub fn served_h3_meanwhile(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<usize> {
    tokio::spawn(async move {
        let mut client = H3::connect(addr, None)
            .await
            .unwrap_or_else(|e| panic!("the well-behaved HTTP/3 client: {e}"));
        let mut rounds = 0;
        loop {
            let got = tokio::time::timeout(
                Duration::from_secs(10),
                client.request("GET", "/ok", Bytes::new()),
            )
            .await;
            match got {
                Ok(Ok((200, body))) if body == "ok" => rounds += 1,
                other => panic!("a well-behaved HTTP/3 client was not served: {other:?}"),
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.close().await;
        rounds
    })
}
