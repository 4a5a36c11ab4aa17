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
//! - [`Server`] and [`Transport`]: one service, several transports, one graceful shutdown;
//!   [`bind_same_port`] binds TCP and UDP on one port.
//! - [`request`]: the request guard every transport calls the service through.
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
mod gauge;
mod lifecycle;
pub mod peer_certificate;
pub mod request;
pub mod server;
pub mod service;
mod shutdown;
pub mod stall;
pub mod tls;
pub mod tls_info;
mod transport;

pub use crate::alt_svc::{AltSvc, AltSvcLayer, InvalidAltSvc};
pub use crate::connection_info::{
    ConnectionId, ConnectionInfo, ConnectionInfoBuilder, ProxyInfo, TransportKind,
};
pub use crate::extract::{AddConnectionInfo, AddConnectionInfoLayer, ConnectionInfoExt};
#[cfg(feature = "axum")]
pub use crate::extract::{ClientCert, ClientCertRejection, MissingConnectionInfo};
pub use crate::peer_certificate::{CertificateError, PeerCertificate, SubjectAltName};
pub use crate::server::{
    bind_same_port, BoxError, BoxFuture, ConnectionGauge, ConnectionGuard, DrainReport,
    ServeContext, Server, ServerError, ServerHandle, Shutdown, ShutdownTrigger, SignalGuard,
    Transport,
};
pub use crate::service::HttpService;
pub use crate::stall::WriteStall;
#[cfg(feature = "aws-lc-rs")]
pub use crate::tls::aws_lc_rs_crypto_provider;
#[cfg(feature = "ring")]
pub use crate::tls::ring_crypto_provider;
#[cfg(feature = "watch")]
pub use crate::tls::CertWatcher;
pub use crate::tls::{
    default_crypto_provider, CaRoots, Certificates, CertificatesBuilder, ClientAuth, PemSource,
    ReloadError, Revocation, ServerTls, TlsError,
};
pub use crate::tls_info::{TlsInfo, TlsInfoBuilder};

/// The rustls version twinport is built against, for building your own configurations.
pub use rustls;
