//! TLS configuration shared by every transport: [`ServerTls`] and [`ClientAuth`].
//!
//! One `ServerTls` makes the rustls configuration of the TCP side (ALPN `h2`, `http/1.1`) and
//! of the QUIC side (ALPN `h3` plus any raw QUIC protocols), so a client certificate means the
//! same thing on both. Certificates and keys are read from PEM; every error names the file and
//! what was wrong with it.
//!
//! Beyond one certificate: [`Certificates`] chooses among several by SNI and reloads them
//! ([`Certificates::reload`], and `Certificates::watch` with the `watch` feature);
//! [`ServerTls::from_resolver`] and [`ServerTls::from_server_config`] take your own. Client
//! authentication is one policy per `ServerTls`, the same on TCP and QUIC (quinn cannot
//! choose a configuration after the ClientHello).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use twinport::{CaRoots, ClientAuth, ServerTls};
//!
//! # let ca = rcgen::generate_simple_self_signed(vec!["ca".into()])?;
//! # let server = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! # let (cert_pem, key_pem, ca_pem) = (server.cert.pem(), server.key_pair.serialize_pem(), ca.cert.pem());
//! let tls = ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
//!     .client_auth(ClientAuth::Optional(CaRoots::from_pem(ca_pem.as_bytes())?));
//!
//! let tcp = tls.tcp_config()?;
//! assert_eq!(tcp.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
//! let quic = tls.quic_config(&[b"my-proto".as_slice()])?;
//! assert_eq!(quic.alpn_protocols, [b"h3".to_vec(), b"my-proto".to_vec()]);
//! assert_eq!(quic.max_early_data_size, 0); // 0-RTT is off unless asked for
//! # Ok(())
//! # }
//! ```

mod builder;
mod certificates;
mod client_auth;
mod client_verifier;
mod entry;
mod error;
mod names;
mod pem;
mod provider;
mod resolver;
mod revocation;
mod server_tls;
mod source;
#[cfg(feature = "watch")]
mod watch;

pub use builder::CertificatesBuilder;
pub use certificates::{Certificates, ReloadError};
pub use client_auth::{CaRoots, ClientAuth};
#[cfg(feature = "acme")]
pub(crate) use entry::load_pem;
pub use error::TlsError;
pub use pem::PemSource;
#[cfg(feature = "aws-lc-rs")]
pub use provider::aws_lc_rs_crypto_provider;
pub use provider::default_crypto_provider;
#[cfg(feature = "ring")]
pub use provider::ring_crypto_provider;
pub use revocation::Revocation;
pub use server_tls::{ServerTls, ACME_TLS_ALPN};
#[cfg(feature = "watch")]
pub use watch::{CertWatcher, DEFAULT_DEBOUNCE};

/// Every name normalized (lower case, no trailing dot), or the first that is not one.
#[cfg(feature = "acme")]
pub(crate) fn normalize_names(names: &[String]) -> Result<Vec<String>, TlsError> {
    entry::normalize_all(names)
}
