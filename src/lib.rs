//! The core of twinport: serve one tower `Service` over HTTP/1.1 and HTTP/2 (TCP + TLS) and
//! HTTP/3 (QUIC) on the same port, and give every request one [`ConnectionInfo`], whatever
//! protocol carried it.
//!
//! **Depend on the `twinport` crate instead**: it re-exports everything here (as
//! `twinport::...`, the paths these docs use) together with the transports and the one-call
//! `twinport::serve`. This crate is what the transports build on:
//!
//! - [`ConnectionInfo`]: addresses, ALPN, TLS and the client's verified certificate, stamped
//!   on each request; read it with [`ConnectionInfoExt`] or, with axum, as an extractor
//!   (and [`ClientCert`] for the certificate alone). With axum, axum's own
//!   `ConnectInfo<SocketAddr>` is on every request too ([`extract`]).
//! - [`AltSvcLayer`]: advertise HTTP/3 to HTTP/1.1 and HTTP/2 clients.
//! - [`ServerTls`] and [`ClientAuth`]: one TLS configuration, the same mTLS on TCP and QUIC.
//! - [`fleet`]: one secret for a fleet of instances: TLS session tickets any of them
//!   decrypts ([`ServerTls::fleet_key`]), keys the transports derive from it.
//! - [`Server`]: one service, several transports, one graceful shutdown;
//!   [`bind_same_port`] binds TCP and UDP on one port.
//! - [`transport`]: for transport authors: the [`Transport`](transport::Transport) trait, the
//!   lifecycle every transport shares and the request guard it calls the service through.
//!
//! The transports are separate crates: `twinport-hyper` (HTTP/1.1 and HTTP/2 over TCP, TLS,
//! PROXY protocol and Unix sockets) and `twinport-quinn` (HTTP/3 and raw QUIC protocols).
//!
//! # Features
//!
//! | feature | default | what it turns on |
//! | --- | --- | --- |
//! | `axum` | yes | axum extractors for [`ConnectionInfo`] and [`ClientCert`]; axum's `ConnectInfo<SocketAddr>` on every request (depends on axum without its default features, plus its `tokio` feature, where `ConnectInfo` lives) |
//! | `aws-lc-rs` | yes | the aws-lc-rs crypto provider for rustls: X25519MLKEM768 (post-quantum hybrid) first |
//! | `ring` | no | the ring crypto provider for rustls, classical key exchange only; with both on, aws-lc-rs is used |
//! | `serde` | no | `serde::Serialize` for [`ConnectionInfo`] and its parts |
//! | `watch` | no | `Certificates::watch`: reload certificate files when they change (notify) |
//! | `acme` | no | `acme`: certificates obtained and renewed from an ACME CA, TLS-ALPN-01 and HTTP-01 (instant-acme) |
//! | `dev-certs` | no | [`dev_certs`]: development certificates (rcgen), and the `twinport-dev-certs` binary |
//! | `metrics` | no | [`metrics`]: request, connection and drain metrics on the `metrics` facade, with OpenTelemetry's names |
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "acme")]
pub mod acme;
pub mod alt_svc;
mod bind;
pub mod body;
pub mod connection_info;
#[cfg(feature = "dev-certs")]
pub mod dev_certs;
mod error_chain;
pub mod extract;
#[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
pub mod fleet;
#[cfg(unix)]
mod inherit;
#[cfg(feature = "metrics")]
pub mod metrics;
mod peer_certificate;
mod server;
pub mod tls;
mod tls_info;
pub mod transport;

/// A boxed error: what a transport fails with, and what handlers of raw QUIC protocols and
/// WebTransport sessions may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub use crate::alt_svc::AltSvcLayer;
pub use crate::bind::bind_same_port;
pub use crate::connection_info::ConnectionInfo;
#[cfg(feature = "axum")]
pub use crate::extract::ClientCert;
pub use crate::extract::ConnectionInfoExt;
#[cfg(unix)]
pub use crate::inherit::inherited_sockets;
pub use crate::server::{Server, ServerHandle, TransportError, DEFAULT_GRACE};
pub use crate::tls::{CaRoots, Certificates, ClientAuth, ServerTls, TlsError};
pub use crate::transport::contract::DrainReport;

/// The rustls version twinport is built against, for building your own configurations.
pub use rustls;
