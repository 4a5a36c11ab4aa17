//! Choosing a certificate for a ClientHello: [`Certificates`] as a rustls
//! [`ResolvesServerCert`], over a [`Table`] that a reload replaces whole.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::names::wildcard_of;
use super::{Certificates, ACME_TLS_ALPN};

/// The certificates of one moment: by exact name (wildcards stored as `*.rest`) and a default.
#[derive(Default)]
pub(super) struct Table {
    pub(super) by_name: HashMap<String, Arc<CertifiedKey>>,
    pub(super) default: Option<Arc<CertifiedKey>>,
}

impl Table {
    /// The exact name, else the wildcard one label up, else the default.
    pub(super) fn lookup(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let found = server_name.and_then(|sni| {
            let sni = sni.strip_suffix('.').unwrap_or(sni).to_ascii_lowercase();
            self.by_name.get(&sni).or_else(|| {
                wildcard_of(&sni)
                    .filter(|_| !sni.starts_with("*."))
                    .and_then(|w| self.by_name.get(&w))
            })
        });
        found.or(self.default.as_ref()).cloned()
    }
}

/// Only an ACME validation offers `acme-tls/1`, and nothing else (RFC 8737 §3).
fn is_tls_alpn_01(hello: &ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut offered| {
        offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none()
    })
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if self.answers_tls_alpn_01() && is_tls_alpn_01(&hello) {
            return self.challenge(hello.server_name()?);
        }
        let found = self.table().lookup(hello.server_name());
        if found.is_none() {
            tracing::debug!(
                sni = hello.server_name(),
                "no certificate for this server name and no default: handshake refused"
            );
        }
        found
    }
}
