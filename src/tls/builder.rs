//! [`CertificatesBuilder`]: registers certificates; [`build`](CertificatesBuilder::build)
//! loads them all and reports the first problem, naming the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use super::certificates::Certificates;
use super::entry::{load_pem, normalize_all, Entry, Origin, Registration};
use super::{default_crypto_provider, PemSource, TlsError};

enum Material {
    Files(PathBuf, PathBuf),
    Pem(Vec<u8>, Vec<u8>),
    Loaded(Arc<CertifiedKey>),
}

struct Pending {
    registration: Result<Registration, TlsError>,
    material: Material,
}

/// Registers the certificates of a [`Certificates`]; see its docs.
#[must_use = "a builder does nothing until it is built"]
#[derive(Default)]
pub struct CertificatesBuilder {
    pending: Vec<Pending>,
    provider: Option<Arc<CryptoProvider>>,
    tls_alpn_01: bool,
    managed: bool,
}

impl std::fmt::Debug for CertificatesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificatesBuilder")
            .field("certificates", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn names(list: impl IntoIterator<Item = impl AsRef<str>>) -> Result<Registration, TlsError> {
    let names = normalize_all(list)?;
    if names.is_empty() {
        return Err(TlsError::InvalidName {
            name: String::new(),
            reason: "no names given to register the certificate for",
        });
    }
    Ok(Registration::Names(names))
}

impl CertificatesBuilder {
    fn push(mut self, registration: Result<Registration, TlsError>, material: Material) -> Self {
        self.pending.push(Pending {
            registration,
            material,
        });
        self
    }

    /// A certificate chain (leaf first) and key from PEM files, chosen for the DNS names in
    /// its subjectAltName (exact and `*.` wildcard). [`Certificates::reload`] reads the files
    /// again.
    pub fn pem_files(self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        let files = Material::Files(cert.as_ref().to_owned(), key.as_ref().to_owned());
        self.push(Ok(Registration::OwnNames), files)
    }

    /// Like [`pem_files`](Self::pem_files), chosen for these names only (host names or `*.`
    /// wildcards); building fails if the certificate does not cover one of them.
    pub fn pem_files_for(
        self,
        names_: impl IntoIterator<Item = impl AsRef<str>>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Self {
        let files = Material::Files(cert.as_ref().to_owned(), key.as_ref().to_owned());
        self.push(names(names_), files)
    }

    /// The certificate for handshakes without SNI (a client connecting to an IP address) or
    /// for a name nothing else is registered for. Without a default those are refused.
    pub fn default_pem_files(self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        let files = Material::Files(cert.as_ref().to_owned(), key.as_ref().to_owned());
        self.push(Ok(Registration::Default), files)
    }

    /// Like [`pem_files`](Self::pem_files) from PEM bytes (never reloaded).
    pub fn pem(self, cert: &[u8], key: &[u8]) -> Self {
        self.push(
            Ok(Registration::OwnNames),
            Material::Pem(cert.to_vec(), key.to_vec()),
        )
    }

    /// Like [`pem_files_for`](Self::pem_files_for) from PEM bytes (never reloaded).
    pub fn pem_for(
        self,
        names_: impl IntoIterator<Item = impl AsRef<str>>,
        cert: &[u8],
        key: &[u8],
    ) -> Self {
        self.push(names(names_), Material::Pem(cert.to_vec(), key.to_vec()))
    }

    /// Like [`default_pem_files`](Self::default_pem_files) from PEM bytes (never reloaded).
    pub fn default_pem(self, cert: &[u8], key: &[u8]) -> Self {
        self.push(
            Ok(Registration::Default),
            Material::Pem(cert.to_vec(), key.to_vec()),
        )
    }

    /// A certificate already loaded (a key held elsewhere, say), chosen for `names`.
    pub fn certified_key_for(
        self,
        names_: impl IntoIterator<Item = impl AsRef<str>>,
        key: Arc<CertifiedKey>,
    ) -> Self {
        self.push(names(names_), Material::Loaded(key))
    }

    /// Loads keys with this crypto provider and uses it for the handshakes, instead of the
    /// [default](default_crypto_provider).
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Answers ACME TLS-ALPN-01 challenges (the `acme` feature sets this).
    #[cfg_attr(not(feature = "acme"), allow(dead_code))]
    pub(crate) fn tls_alpn_01(mut self, on: bool) -> Self {
        self.tls_alpn_01 = on;
        self
    }

    /// Starts empty without error: certificates will be [inserted](Certificates::insert).
    #[cfg_attr(not(feature = "acme"), allow(dead_code))]
    pub(crate) fn managed(mut self) -> Self {
        self.managed = true;
        self
    }

    /// Loads every certificate. The error names the file and what is wrong: a missing or
    /// unreadable file, bad PEM, a key that does not match, a name the certificate does not
    /// cover, a name registered twice, two defaults.
    pub fn build(self) -> Result<Certificates, TlsError> {
        let provider = match self.provider {
            Some(p) => p,
            None => default_crypto_provider()?,
        };
        let mut entries = Vec::with_capacity(self.pending.len());
        for pending in self.pending {
            let registration = pending.registration?;
            let entry = match pending.material {
                Material::Files(cert, key) => {
                    Entry::from_files(registration, cert, key, &provider)?
                }
                Material::Pem(cert, key) => {
                    let (src, key_src) = (PemSource::Memory, PemSource::Memory);
                    let loaded = load_pem(&cert, src, &key, key_src, &provider)?;
                    Entry::new(registration, Origin::Memory, Arc::new(loaded))?
                }
                Material::Loaded(key) => Entry::new(registration, Origin::Memory, key)?,
            };
            entries.push(entry);
        }
        if entries.is_empty() && !self.managed {
            return Err(TlsError::NoCertificates);
        }
        Certificates::new(entries, provider, self.tls_alpn_01)
    }
}
