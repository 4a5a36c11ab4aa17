//! Reading PEM: [`PemSource`] (where it came from, for error messages), certificate chains and
//! private keys.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where a certificate or key came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemSource {
    /// A file.
    File(PathBuf),
    /// Bytes handed over in memory.
    Memory,
}

impl fmt::Display for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Memory => f.write_str("<PEM bytes>"),
        }
    }
}

pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TlsError::NotFound(path.to_owned(), e),
        _ => TlsError::Read {
            path: path.to_owned(),
            source: e,
        },
    })
}

pub(super) fn parse_certs(
    pem: &[u8],
    src: &PemSource,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::InvalidPem {
            source_name: src.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(src.clone()));
    }
    Ok(certs)
}

pub(super) fn parse_key(pem: &[u8], src: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey(src.clone()),
        source => TlsError::InvalidPem {
            source_name: src.clone(),
            source,
        },
    })
}
