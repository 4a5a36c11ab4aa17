//! Serve one tower `Service` — an axum `Router`, or any `tower::Service<http::Request<_>>` —
//! over HTTP/1.1 and HTTP/2 on TCP + TLS and HTTP/3 on QUIC, **on the same port**, and give
//! every request one [`ConnectionInfo`]: addresses, ALPN, TLS and the client's verified
//! certificate, whatever protocol carried it.
//!
//! # The common case: one call
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{extract::ConnectInfo, routing::get, Router};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let app = Router::new().route(
//!         "/",
//!         get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("hello {peer}") }),
//!     );
//!     let tls = twinport::ServerTls::from_pem_files("cert.pem", "key.pem")?;
//!     twinport::serve("0.0.0.0:4433", app, tls).await?; // Ctrl-C / SIGTERM: graceful
//!     Ok(())
//! }
//! ```
//!
//! [`serve`] binds TCP and UDP on one port, serves HTTP/1.1 and HTTP/2 over TLS and HTTP/3
//! over QUIC, advertises HTTP/3 with Alt-Svc, and drains on Ctrl-C or SIGTERM. Every request
//! carries twinport's [`ConnectionInfo`] and axum's own `ConnectInfo<SocketAddr>`, so an axum
//! app written for `into_make_service_with_connect_info::<SocketAddr>()` works unchanged.
//! axum's `WebSocketUpgrade` works over HTTP/1.1 and, on a route written `any(handler)`, over
//! HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220).
//!
//! # Everything else: the builder
//!
//! [`Server`] takes any number of transports — [`Http`] (HTTP/1.1 and HTTP/2 over TCP, TLS,
//! the PROXY protocol, Unix sockets, your own acceptors; module [`tcp`]) and [`Http3`]
//! (HTTP/3, raw QUIC protocols by ALPN, WebTransport; module [`quic`]) — with one graceful
//! shutdown:
//!
//! ```no_run
//! # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! use twinport::{Http, Http3, Server, ServerTls};
//!
//! let tls = ServerTls::from_pem_files("cert.pem", "key.pem")?;
//! let (tcp, udp) = twinport::bind_same_port("0.0.0.0:4433".parse()?)?;
//! Server::new(app)
//!     .transport(Http::from_std(tcp)?.tls(&tls)?)
//!     .transport(Http3::new(udp, &tls)?)
//!     .with_graceful_shutdown(twinport::shutdown_signal())
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it turns on |
//! | --- | --- | --- |
//! | `hyper` | yes | HTTP/1.1 and HTTP/2 over TCP + TLS, PROXY protocol, Unix sockets: [`tcp`] (twinport-hyper), [`Http`] |
//! | `quinn` | yes | HTTP/3, raw QUIC protocols, WebTransport: [`quic`] (twinport-quinn), [`Http3`]; needs `ring` or `aws-lc-rs` |
//! | `axum` | yes | axum extractors for [`ConnectionInfo`] and [`ClientCert`], and axum's `ConnectInfo<SocketAddr>` on every request; turns on `websocket` |
//! | `websocket` | yes (by `axum`) | WebSockets over HTTP/3 (RFC 9220) for handlers built on hyper's upgrade, axum's `WebSocketUpgrade` included: [`Http3Config::websockets`] |
//! | `aws-lc-rs` | yes | the aws-lc-rs crypto provider for rustls and QUIC: X25519MLKEM768 (post-quantum hybrid) first, classical groups after it |
//! | `ring` | no | the ring crypto provider instead, classical key exchange only (`default-features = false`); with both on, aws-lc-rs is used |
//! | `serde` | no | `serde::Serialize` for [`ConnectionInfo`] and its parts, for `Json(info)` |
//! | `watch` | no | [`Certificates::watch`](crate::Certificates): reload certificate files when they change (notify; Kubernetes' `..data` swap included) |
//! | `acme` | no | `twinport::acme`: certificates obtained and renewed from an ACME CA, TLS-ALPN-01 and HTTP-01 (instant-acme) |
//! | `dev-certs` | no | [`dev_certs::DevCerts`]: a development CA, server and client certificate, written once |
//! | `metrics` | no | [`metrics`]: request, connection and drain metrics on the `metrics` facade, with OpenTelemetry's names |
//!
//! [`serve`] needs both `hyper` and `quinn`. Without `serde`, a handler returning
//! `Json(info)` fails to compile with axum's "`Handler<_, _>` is not implemented": turn the
//! feature on.
//!
//! This crate re-exports the core, `twinport-core` (everything at the root and its modules:
//! [`tls`], [`extract`], [`transport`], ...), and the transports; depend on it alone.
//!
//! Coming from `axum::serve`, axum-server or JetStream's HTTP: see
//! [`migrating`] (also `facade/docs/migrating.md` in the repository).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use twinport_core::*;

#[cfg(feature = "hyper")]
pub use twinport_hyper as tcp;
#[cfg(feature = "hyper")]
pub use twinport_hyper::{Http, HttpConfig};

#[cfg(feature = "quinn")]
pub use twinport_quinn as quic;
#[cfg(feature = "quinn")]
pub use twinport_quinn::{Http3, Http3Config};

#[cfg(all(feature = "hyper", feature = "quinn", feature = "axum"))]
#[doc = include_str!("../docs/migrating.md")]
pub mod migrating {}

#[cfg(all(feature = "hyper", feature = "quinn"))]
mod addr;
#[cfg(all(feature = "hyper", feature = "quinn"))]
mod serve;
mod signal;

#[cfg(all(feature = "hyper", feature = "quinn"))]
pub use crate::addr::ServeAddr;
#[cfg(all(feature = "hyper", feature = "quinn"))]
pub use crate::serve::{serve, OnePort, ServeError};
pub use crate::signal::shutdown_signal;
