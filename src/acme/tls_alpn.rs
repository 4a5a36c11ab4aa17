//! The TLS-ALPN-01 challenge certificate (RFC 8737 §3): self-signed, for the one name being
//! validated, with the critical acmeIdentifier extension holding the SHA-256 of the key
//! authorization. Served only to ClientHellos offering exactly `acme-tls/1`.

use std::sync::Arc;

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::AcmeError;

/// The challenge certificate for `name` and this key authorization digest.
pub(super) fn challenge_certificate(
    name: &str,
    digest: &[u8],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let gen = |e: rcgen::Error| AcmeError::Key(e.into());
    let mut params = CertificateParams::new(vec![name.to_owned()]).map_err(gen)?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate().map_err(gen)?;
    let cert = params.self_signed(&key).map_err(gen)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| AcmeError::Key(e.into()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}
