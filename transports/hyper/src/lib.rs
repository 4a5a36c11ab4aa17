//! HTTP/1.1 and HTTP/2 for [`twinport`]: TCP, TLS, the PROXY protocol and Unix
//! sockets, served by hyper, with the same [`ConnectionInfo`](twinport::ConnectionInfo) on
//! every request.
//!
//! [`Http`] takes connections from a [`Listener`] (tokio's `TcpListener` or `UnixListener`, or
//! your own), readies each through a chain of [`Acceptor`]s ([`TlsAcceptor`],
//! [`ProxyProtocolAcceptor`], or your own) inside the connection's own task, and serves it with
//! hyper:
//!
//! - with TLS, ALPN decides: `h2` → HTTP/2 only, `http/1.1` or none → HTTP/1.1 only;
//! - without TLS, the first bytes decide: HTTP/1.1, or HTTP/2 with prior knowledge (h2c);
//! - WebSockets work over HTTP/1.1 (upgrades) and HTTP/2 (RFC 8441 extended CONNECT, see
//!   [`HttpConfig::http2_websockets`]): axum's `WebSocketUpgrade` on a route written
//!   `any(handler)` serves both;
//! - a handler that panics gets its request a `500`; the connection stays up;
//! - an HTTP/2 connection's streams run in the connection's task, their responses written
//!   together (see [`HttpConfig::http2_spawn_streams`] for what that means for a handler that
//!   blocks, and for hyper's way, a task per stream);
//! - [`HttpConfig`] holds the timeouts and limits, with safe defaults;
//! - graceful shutdown: stop accepting, `GOAWAY` / `Connection: close`, wait for requests in
//!   flight up to a deadline, then close the rest and report how many;
//! - every close the server chooses lingers (see [`HttpConfig::lingering_time`]), so no
//!   response is lost to a reset the client's late bytes would cause;
//! - the service receives requests with a [`RequestBody`]: hyper's `Incoming`, read on for a
//!   moment when an HTTP/2 handler drops it unread, so that the client's violations behind the
//!   request are still answered as RFC 9113 says.
//!
//! Each connection gets a `conn` tracing span (`transport`, `remote`: the TCP peer, `id` and
//! `protocol` once the acceptors are done, and `client` when a PROXY header named one), and
//! each request a `req` span under it (`method`, `path`): the same spans as on HTTP/3, see
//! [`twinport::transport::request`].
//!
//! # Serving on its own
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use twinport::ConnectionInfo;
//! use twinport_hyper::Http;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Router::new().route(
//!     "/",
//!     get(|info: ConnectionInfo| async move { format!("hello {:?}", info.remote_addr()) }),
//! );
//! let tls = twinport::ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?;
//! Http::bind("0.0.0.0:8443".parse()?).await?.tls(&tls)?.serve(app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # With `twinport::Server`
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use twinport::Server;
//! use twinport_hyper::Http;
//!
//! let (tcp, _udp) = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
//! let tls = twinport::ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?;
//! Server::new(app)
//!     .transport(Http::from_std(tcp)?.tls(&tls)?)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!     .grace_period(Duration::from_secs(10))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Writing an acceptor
//!
//! An acceptor gets the stream and the [`ConnectionInfoBuilder`](twinport::connection_info::ConnectionInfoBuilder)
//! from the step before it, and hands both on (or refuses the connection). This one turns away
//! addresses on a deny list; it sees the address the PROXY protocol reported when it runs
//! after a [`ProxyProtocolAcceptor`].
//!
//! ```
//! use std::collections::HashSet;
//! use std::net::IpAddr;
//! use std::sync::Arc;
//!
//! use twinport::connection_info::ConnectionInfoBuilder;
//! use twinport_hyper::{AcceptError, AcceptFuture, Acceptor, DefaultAcceptor};
//!
//! #[derive(Clone)]
//! struct DenyList<A = DefaultAcceptor> {
//!     inner: A,
//!     denied: Arc<HashSet<IpAddr>>,
//! }
//!
//! impl<A: Acceptor<I> + Sync, I: Send + 'static> Acceptor<I> for DenyList<A> {
//!     type Io = A::Io;
//!     type Future = AcceptFuture<A::Io>;
//!
//!     fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future {
//!         let inner = self.inner.accept(io, info);
//!         let denied = self.denied.clone();
//!         Box::pin(async move {
//!             let (io, info) = inner.await?;
//!             match info.remote_addr_ref() {
//!                 Some(addr) if denied.contains(&addr.ip()) => {
//!                     Err(AcceptError::refused(format!("{} is on the deny list", addr.ip())))
//!                 }
//!                 _ => Ok((io, info)),
//!             }
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use twinport_hyper::{Http, ProxyMode, ProxyProtocolAcceptor};
//!
//! let deny = DenyList {
//!     inner: ProxyProtocolAcceptor::new(ProxyMode::Optional),
//!     denied: Arc::new(["127.0.0.1".parse()?].into()),
//! };
//! let http = Http::bind("127.0.0.1:0".parse()?).await?.acceptor(deny);
//! let addr = http.local_addr().expect("a TCP address");
//! let server = tokio::spawn(http.serve(axum::Router::new()));
//!
//! // 127.0.0.1 is denied: the connection is closed before any HTTP.
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut stream = tokio::net::TcpStream::connect(addr).await?;
//! stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await?;
//! let mut buf = Vec::new();
//! let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut buf)).await?;
//! assert!(read.is_err() || buf.is_empty());
//! server.abort();
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it turns on |
//! | --- | --- | --- |
//! | `aws-lc-rs` | yes | the aws-lc-rs crypto provider for rustls, post-quantum key exchange first |
//! | `ring` | no | the ring crypto provider for rustls, classical key exchange only |
//!
//! Users of the `twinport` crate get this one as `twinport::tcp` (feature `hyper`, on by
//! default).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod accept;
mod accepting;
mod body;
pub mod config;
mod conn;
pub mod http;
mod io;
mod linger;
pub mod listener;
pub mod proxy;
mod service;
mod streams;
pub mod tls;

pub use crate::accept::{AcceptError, AcceptFuture, Acceptor, BeforeTls, DefaultAcceptor};
pub use crate::body::RequestBody;
pub use crate::config::HttpConfig;
pub use crate::http::Http;
pub use crate::listener::Listener;
pub use crate::proxy::{ProxyError, ProxyMode, ProxyProtocolAcceptor, ProxyStream};
pub use crate::tls::TlsAcceptor;

/// The tokio-rustls version this crate is built against.
pub use tokio_rustls;
