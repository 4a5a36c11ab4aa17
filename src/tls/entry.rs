//! One registered certificate: what it is registered for, where it is loaded from, and what
//! was loaded last.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use super::names::{covers, dns_names, normalize};
use super::pem::{parse_certs, parse_key, read_file};
use super::server_tls::certified_key;
use super::{PemSource, TlsError};

/// What a certificate is chosen for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Registration {
    /// The DNS names in its subjectAltName (read again at each reload).
    OwnNames,
    /// These names (normalized), each checked to be covered by the certificate.
    Names(Vec<String>),
    /// Handshakes without SNI or for a name nothing else is registered for.
    Default,
}

/// Where a certificate comes from.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    /// PEM files, read again at each reload.
    Files { cert: PathBuf, key: PathBuf },
    /// Given in memory: kept as loaded.
    Memory,
}

/// A registered certificate and what it was last loaded as.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) registration: Registration,
    pub(super) origin: Origin,
    pub(super) key: Arc<CertifiedKey>,
    /// The names it is looked up by (empty for the default).
    pub(super) names: Vec<String>,
}

impl Entry {
    /// Where the certificate came from, for messages.
    pub(super) fn cert_source(&self) -> PemSource {
        match &self.origin {
            Origin::Files { cert, .. } => PemSource::File(cert.clone()),
            Origin::Memory => PemSource::Memory,
        }
    }

    /// Reads PEM files and checks the names: a new entry, or the error naming the file.
    pub(super) fn from_files(
        registration: Registration,
        cert: PathBuf,
        key: PathBuf,
        provider: &CryptoProvider,
    ) -> Result<Self, TlsError> {
        let (cert_pem, key_pem) = (read_file(&cert)?, read_file(&key)?);
        let (cert_src, key_src) = (PemSource::File(cert.clone()), PemSource::File(key.clone()));
        let certified = load_pem(&cert_pem, cert_src, &key_pem, key_src, provider)?;
        Self::new(
            registration,
            Origin::Files { cert, key },
            Arc::new(certified),
        )
    }

    /// An entry for a certificate already loaded, its names checked.
    pub(super) fn new(
        registration: Registration,
        origin: Origin,
        key: Arc<CertifiedKey>,
    ) -> Result<Self, TlsError> {
        let mut entry = Self {
            registration,
            origin,
            key,
            names: Vec::new(),
        };
        entry.names = entry.check_names(&entry.key)?;
        Ok(entry)
    }

    /// Loads the files again: the entry as it is now, or why not (this one unchanged).
    /// `None` for an entry given in memory.
    pub(super) fn reload(&self, provider: &CryptoProvider) -> Option<Result<Self, TlsError>> {
        let Origin::Files { cert, key } = &self.origin else {
            return None;
        };
        let registration = self.registration.clone();
        Some(Self::from_files(
            registration,
            cert.clone(),
            key.clone(),
            provider,
        ))
    }

    /// The names `key` is looked up by under this registration, or why it cannot be.
    fn check_names(&self, key: &CertifiedKey) -> Result<Vec<String>, TlsError> {
        let src = self.cert_source();
        let leaf = key
            .end_entity_cert()
            .map_err(|_| TlsError::NoCertificate(src.clone()))?;
        let sans = dns_names(leaf, &src)?;
        match &self.registration {
            Registration::Default => Ok(Vec::new()),
            Registration::OwnNames if sans.is_empty() => Err(TlsError::NoDnsNames(src)),
            Registration::OwnNames => Ok(sans),
            Registration::Names(names) => {
                if let Some(name) = names.iter().find(|n| !covers(&sans, n)) {
                    return Err(TlsError::NameNotCovered {
                        cert: src,
                        name: name.clone(),
                        sans,
                    });
                }
                Ok(names.clone())
            }
        }
    }
}

/// Parses a PEM chain and key and checks that they belong together.
pub(crate) fn load_pem(
    cert: &[u8],
    cert_src: PemSource,
    key: &[u8],
    key_src: PemSource,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = parse_certs(cert, &cert_src)?;
    let key_der = parse_key(key, &key_src)?;
    certified_key(chain, cert_src, key_der, key_src, provider)
}

/// Normalizes every name; the first that is not a host name is the error.
pub(super) fn normalize_all(
    names: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<Vec<String>, TlsError> {
    names.into_iter().map(|n| normalize(n.as_ref())).collect()
}

/// The serial number of the leaf, in hex, for logs.
pub(super) fn serial(key: &CertifiedKey) -> String {
    use x509_parser::prelude::{FromDer, X509Certificate};
    key.end_entity_cert()
        .ok()
        .and_then(|der| X509Certificate::from_der(der).ok())
        .map(|(_, c)| c.raw_serial_as_string())
        .unwrap_or_default()
}
