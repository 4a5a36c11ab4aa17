//! [`TlsError`]: why a TLS configuration could not be made, naming the file and the fix.

use std::path::PathBuf;

use super::PemSource;
use crate::BoxError;

/// Why a TLS configuration could not be made.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file does not exist: the path, and the OS's error.
    #[error("{0}: file not found")]
    NotFound(PathBuf, #[source] std::io::Error),
    /// The file could not be read.
    #[error("{path}: cannot read")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The PEM could not be decoded.
    #[error("{source_name}: invalid PEM")]
    InvalidPem {
        /// Where it came from.
        source_name: PemSource,
        /// What was wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// No `CERTIFICATE` section was found.
    #[error("{0}: no certificate found (expected a '-----BEGIN CERTIFICATE-----' section)")]
    NoCertificate(PemSource),
    /// No private key section was found.
    #[error("{0}: no private key found (expected a PKCS#8, PKCS#1 or SEC1 'PRIVATE KEY' section)")]
    NoPrivateKey(PemSource),
    /// The key could not be used with the crypto provider.
    #[error("{source_name}: unusable private key")]
    InvalidKey {
        /// Where it came from.
        source_name: PemSource,
        /// rustls' reason.
        #[source]
        error: rustls::Error,
    },
    /// The key does not belong to the certificate.
    #[error("the private key in {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The certificate's source.
        cert: PemSource,
        /// The key's source.
        key: PemSource,
    },
    /// A CA certificate could not be added to the trust store.
    #[error("{source_name}: unusable CA certificate")]
    InvalidCa {
        /// Where it came from.
        source_name: PemSource,
        /// rustls' reason.
        #[source]
        error: rustls::Error,
    },
    /// The client certificate verifier could not be built.
    #[error("cannot verify client certificates")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// rustls refused the configuration.
    #[error("TLS configuration refused")]
    Rustls(#[from] rustls::Error),
    /// Neither the `ring` nor the `aws-lc-rs` feature is on, and no process default is set.
    #[error(
        "no rustls crypto provider: enable twinport's `ring` or `aws-lc-rs` feature, or pass one \
         with ServerTls::crypto_provider"
    )]
    NoCryptoProvider,
    /// No CRL was found in a CRL file.
    #[error("{0}: no CRL found (expected '-----BEGIN X509 CRL-----' sections or one DER CRL)")]
    NoCrl(PemSource),
    /// A CRL could not be parsed.
    #[error("{source_name}: invalid CRL")]
    InvalidCrl {
        /// Where it came from.
        source_name: PemSource,
        /// The parser's error (rustls-webpki's).
        #[source]
        source: BoxError,
    },
    /// A certificate was registered for a name its subjectAltNames do not cover.
    #[error(
        "{cert}: the certificate does not cover {name:?} it is registered for (its DNS names: \
         {sans:?})"
    )]
    NameNotCovered {
        /// The certificate's source.
        cert: PemSource,
        /// The name it was registered for.
        name: String,
        /// The DNS names in its subjectAltName extension.
        sans: Vec<String>,
    },
    /// A certificate registered under the names in it has none.
    #[error(
        "{0}: the certificate has no DNS names to be chosen by; register it for names or as the \
         default"
    )]
    NoDnsNames(PemSource),
    /// A name is not a host name or a `*.` wildcard of one.
    #[error("{name:?} is not a host name (nor a '*.' wildcard of one): {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two certificates are registered for the same name.
    #[error("{name:?} is registered twice: for {first} and for {second}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The certificate registered first.
        first: PemSource,
        /// The certificate registered second.
        second: PemSource,
    },
    /// Two certificates are registered as the default.
    #[error("two default certificates: {first} and {second}")]
    DuplicateDefault {
        /// The first.
        first: PemSource,
        /// The second.
        second: PemSource,
    },
    /// A set of certificates has none.
    #[error("no certificates: add at least one (or a default) before building")]
    NoCertificates,
    /// A leaf certificate could not be parsed.
    #[error("{source_name}: cannot parse the certificate")]
    BadCertificate {
        /// Where it came from.
        source_name: PemSource,
        /// The parser's error (x509-parser's, or a [`CertificateError`](crate::connection_info::CertificateError)).
        #[source]
        source: BoxError,
    },
    /// The file watcher could not be started.
    #[error("cannot watch {path} for changes")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's error (notify's), or [`RuntimeError::Missing`](crate::transport::RuntimeError).
        #[source]
        source: BoxError,
    },
}

crate::error_chain::debug_as_chain!(TlsError);

#[cfg(test)]
mod tests {
    use rustls_pki_types::CertificateDer;

    use super::*;

    #[test]
    fn a_certificate_x509_cannot_parse_keeps_the_parser_error() {
        let leaf = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let e = super::super::names::dns_names(&leaf, &PemSource::Memory).unwrap_err();
        assert!(matches!(e, TlsError::BadCertificate { .. }), "{e}");
        assert_eq!(e.to_string(), "<PEM bytes>: cannot parse the certificate");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        twinport_testkit::errors::assert_cause_once(&e, &cause);
    }

    #[test]
    fn rustls_refusals_are_the_cause_not_the_message() {
        let refused = rustls::Error::General("no shared cipher".into());
        twinport_testkit::errors::assert_cause_once(&TlsError::Rustls(refused), "no shared cipher");
        let verifier = TlsError::Verifier(rustls::server::VerifierBuilderError::NoRootAnchors);
        assert_eq!(verifier.to_string(), "cannot verify client certificates");
        twinport_testkit::errors::assert_cause_once(&verifier, "no root trust anchors");
    }
}
