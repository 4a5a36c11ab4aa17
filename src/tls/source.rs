//! Where a [`ServerTls`](super::ServerTls) gets its certificates from.

use std::fmt;
use std::sync::Arc;

use rustls::server::{ResolvesServerCert, ServerConfig};
use rustls::sign::CertifiedKey;
use rustls_pki_types::CertificateDer;

use super::Certificates;

/// One certificate, a set chosen by SNI, a resolver of the user's own, or a whole config.
#[derive(Clone)]
pub(super) enum CertSource {
    /// One certificate for every handshake.
    Single(Arc<CertifiedKey>),
    /// The user's own resolver.
    Resolver(Arc<dyn ResolvesServerCert>),
    /// Certificates chosen by SNI, reloadable.
    Certificates(Certificates),
    /// A complete rustls configuration; only ALPN (and QUIC's early-data size) is set.
    Config(Arc<ServerConfig>),
}

impl CertSource {
    pub(super) fn single_chain(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Self::Single(k) => Some(&k.cert),
            _ => None,
        }
    }

    pub(super) fn answers_tls_alpn_01(&self) -> bool {
        matches!(self, Self::Certificates(c) if c.answers_tls_alpn_01())
    }
}

impl fmt::Debug for CertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single(k) => f.debug_tuple("Single").field(&k.cert.len()).finish(),
            Self::Resolver(r) => f.debug_tuple("Resolver").field(r).finish(),
            Self::Certificates(c) => f.debug_tuple("Certificates").field(c).finish(),
            Self::Config(c) => f.debug_tuple("Config").field(c).finish(),
        }
    }
}
