//! HTTP/3 over QUIC for twinport: one tower `Service` served over HTTP/3, beside raw QUIC
//! protocols routed by ALPN on the same endpoint, with the core's
//! [`ConnectionInfo`](twinport::ConnectionInfo) on every request.
//!
//! - [`Http3`]: the QUIC endpoint and the [`twinport::transport::Transport`] that serves a tower service
//!   over HTTP/3 (JetStream's `H3Service::new(router)`); run it in a [`twinport::Server`]
//!   beside a TCP transport, or alone with [`Http3::serve`].
//! - [`Builder::route`] and [`QuicHandler`]: raw QUIC protocols by ALPN (JetStream's
//!   `jetstream_quic::Router` / `QuicHandler`). The server's ALPN preference is the
//!   registration order; a client offering nothing registered is refused in the handshake.
//! - [`QuicConfig`] and [`Http3Config`]: limits with safe defaults (idle timeout, stream
//!   counts and windows, Retry under load, 64 KiB header sections, 4 KiB SETTINGS, rates of
//!   control frames and of streams opened and dropped, body idle and write-stall timeouts,
//!   no GREASE, no 0-RTT).
//!
//! HTTP/3 is served by this crate's own layer directly on quinn (no h3 crate): a sans-IO
//! codec for frames and QPACK (static table and Huffman only; no dynamic table is offered),
//! and per-connection tasks that read each stream only as far as its consumer asks. A
//! connection's requests run in its task, and quinn's drivers wait one scheduler turn before
//! each poll, so the responses that become ready together leave in one packet (see
//! [`Http3Config::spawn_requests`] for what that means for a handler that blocks).
//! - [`Builder::webtransport`] and [`WebTransportHandler`]: WebTransport sessions by path,
//!   many per connection, beside ordinary requests ([`webtransport`]).
//! - [`RecvBody`]: the request body, pulled from QUIC only as the handler reads it.
//!
//! Each connection gets a `conn` tracing span (`id`, `transport`, `remote`, `protocol`: the
//! ALPN) and each HTTP/3 request a `req` span under it (`method`, `path`, `stream`): the same
//! spans as twinport-hyper's, see [`twinport::transport::request`]. Requests go through the core's
//! [`RequestGuard`](twinport::transport::request::RequestGuard): a handler that fails or panics gets a
//! `500`, a response body that fails or panics gets its stream reset.
//!
//! ```no_run
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use twinport::ConnectionInfoExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = twinport::ServerTls::from_pem_files("certs/server.pem", "certs/server.key")?;
//! let app = tower::service_fn(|req: http::Request<twinport_quinn::RecvBody>| async move {
//!     let peer = req.connection_info().and_then(|i| i.remote_addr());
//!     Ok::<_, Infallible>(http::Response::new(format!("hello {peer:?} over HTTP/3\n")))
//! });
//! let h3 = twinport_quinn::Http3::bind("127.0.0.1:4433".parse()?, &tls)?;
//! twinport::Server::new(app)
//!     .transport(h3)
//!     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
//!     .grace_period(Duration::from_secs(10))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # WebSockets over HTTP/3
//!
//! With the `websocket` feature, an extended CONNECT with `:protocol websocket` (RFC 9220)
//! reaches the service as HTTP/2's does through hyper — `CONNECT`, a `hyper::ext::Protocol`
//! and a `hyper::upgrade::OnUpgrade` in the extensions — so axum's `WebSocketUpgrade` on a
//! route written `any(handler)` serves it unchanged ([`Http3Config::websockets`]).
//!
//! # Features
//!
//! | feature | default | what it turns on |
//! | --- | --- | --- |
//! | `aws-lc-rs` | yes | the aws-lc-rs crypto provider for rustls and quinn, post-quantum key exchange first |
//! | `ring` | no | the ring crypto provider for rustls and quinn, classical key exchange only |
//! | `websocket` | no (the `twinport` crate's `axum` feature turns it on) | WebSockets over HTTP/3 for handlers built on hyper's upgrade: [`Http3Config::websockets`] (adds hyper's HTTP/1.1 server, with which the upgrade is made in memory) |
//!
//! Users of the `twinport` crate get this one as `twinport::quic` (feature `quinn`, on by
//! default).
//!
//! 0-RTT is off unless [`twinport::ServerTls::early_data`] turns it on. Then requests that
//! arrive before the handshake is complete are marked
//! [`is_early_data`](twinport::ConnectionInfo::is_early_data); only GET, HEAD and OPTIONS
//! are served from early data, others wait until the handshake completes (RFC 8470 §3), which
//! a replayed ClientHello cannot do. Raw QUIC handlers get their connection once the handshake
//! is complete. With client certificates required or optional, 0-RTT stays off (the
//! certificate is only known after the handshake).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("twinport-quinn needs a crypto provider: enable the `ring` or `aws-lc-rs` feature");

pub mod body;
mod codes;
pub mod config;
mod connection;
mod control;
pub mod error;
pub mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
mod handshake;
mod info;
// The own HTTP/3 layer's sans-IO codec: frames, settings, QPACK, messages.
mod proto;
mod request;
pub mod server;
mod stats;
mod tls;
#[cfg(feature = "websocket")]
mod websocket;
pub mod webtransport;

pub use crate::body::RecvBody;
pub use crate::config::{AddressValidation, Http3Config, QuicConfig};
pub use crate::error::{BodyError, Error};
pub use crate::handler::{QuicConnection, QuicHandler};
pub use crate::server::{Builder, Http3, Steering, WorkerSnapshot, WorkerStats, H3_ALPN};
pub use crate::tls::HandshakeData;
pub use crate::webtransport::{WebTransportHandler, WebTransportSession};

/// The quinn version this crate is built on, for raw QUIC handlers.
pub use quinn;
