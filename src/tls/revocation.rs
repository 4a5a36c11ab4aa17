//! [`Revocation`]: how client certificates are checked against CRLs, and the reading of CRL
//! files (PEM or DER).

use std::path::Path;

use rustls::server::ClientCertVerifierBuilder;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

use super::{PemSource, TlsError};

/// How client certificates are checked against the CRLs of a
/// [`CaRoots`](super::CaRoots). The defaults are the strict ones: every certificate of the
/// chain is checked, a certificate whose status no CRL gives is refused, and an expired CRL
/// (past its `nextUpdate`) refuses every client until a fresh one is loaded, as OpenSSL and
/// nginx do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revocation {
    /// Check only the client's own certificate, not the intermediate CAs (default: false).
    pub leaf_only: bool,
    /// Serve a certificate whose issuer has no CRL loaded (default: false).
    pub allow_unknown_status: bool,
    /// Refuse every client while a CRL is past its `nextUpdate` (default: true).
    pub enforce_expiry: bool,
}

impl Default for Revocation {
    fn default() -> Self {
        Self {
            leaf_only: false,
            allow_unknown_status: false,
            enforce_expiry: true,
        }
    }
}

impl Revocation {
    /// Checks only the client's own certificate (intermediates stay unchecked).
    pub fn leaf_only(mut self, on: bool) -> Self {
        self.leaf_only = on;
        self
    }

    /// Serves a certificate whose issuer has no CRL loaded, instead of refusing it.
    pub fn allow_unknown_status(mut self, on: bool) -> Self {
        self.allow_unknown_status = on;
        self
    }

    /// Refuses every client while a CRL is past its `nextUpdate` (on by default).
    pub fn enforce_expiry(mut self, on: bool) -> Self {
        self.enforce_expiry = on;
        self
    }

    pub(super) fn apply(self, mut b: ClientCertVerifierBuilder) -> ClientCertVerifierBuilder {
        if self.leaf_only {
            b = b.only_check_end_entity_revocation();
        }
        if self.allow_unknown_status {
            b = b.allow_unknown_revocation_status();
        }
        if self.enforce_expiry {
            b = b.enforce_revocation_expiration();
        }
        b
    }
}

/// Every CRL of a file: PEM (`-----BEGIN X509 CRL-----` sections) or one DER CRL.
pub(super) fn read_crls(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = super::pem::read_file(path)?;
    parse_crls(bytes, &PemSource::File(path.to_owned()))
}

/// Like [`read_crls`], from bytes.
pub(super) fn parse_crls(
    bytes: Vec<u8>,
    src: &PemSource,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let crls = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::InvalidPem {
                source_name: src.clone(),
                source,
            })?
    } else {
        vec![CertificateRevocationListDer::from(bytes)]
    };
    if crls.is_empty() {
        return Err(TlsError::NoCrl(src.clone()));
    }
    for crl in &crls {
        webpki::OwnedCertRevocationList::from_der(crl).map_err(|e| TlsError::InvalidCrl {
            source_name: src.clone(),
            source: e.into(),
        })?;
    }
    Ok(crls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_crl_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("twinport-crl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let der = dir.join("garbage.crl");
        std::fs::write(&der, b"\x30\x03\x02\x01\x01").unwrap();
        let e = read_crls(&der).unwrap_err();
        assert!(matches!(e, TlsError::InvalidCrl { .. }), "{e}");
        assert!(e.to_string().contains("garbage.crl: invalid CRL"), "{e}");
        twinport_testkit::errors::assert_typed_cause::<webpki::Error>(&e);

        let pem = dir.join("cert-only.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = read_crls(&pem).unwrap_err();
        assert!(matches!(e, TlsError::NoCrl(_)), "{e}");
        assert!(e.to_string().contains("cert-only.pem: no CRL found"), "{e}");

        let e = read_crls(&dir.join("missing.crl")).unwrap_err();
        assert!(matches!(e, TlsError::NotFound(..)), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
