//! The rustls crypto provider twinport uses: aws-lc-rs with the post-quantum hybrid
//! X25519MLKEM768 first (the `aws-lc-rs` feature, the default), or ring with classical groups
//! only (the `ring` feature alone). Never rustls' process-wide default, so an application may
//! compile in any mix of rustls features.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use super::TlsError;

/// The crypto provider twinport uses when none is given: with the `aws-lc-rs` feature (the
/// default) [`aws_lc_rs_crypto_provider`], post-quantum; with only `ring`,
/// [`ring_crypto_provider`], classical. With neither, the process default if the application
/// installed one (the only case where it is read).
pub fn default_crypto_provider() -> Result<Arc<CryptoProvider>, TlsError> {
    #[cfg(feature = "aws-lc-rs")]
    {
        Ok(aws_lc_rs_crypto_provider())
    }
    #[cfg(all(not(feature = "aws-lc-rs"), feature = "ring"))]
    {
        Ok(ring_crypto_provider())
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    {
        CryptoProvider::get_default()
            .cloned()
            .ok_or(TlsError::NoCryptoProvider)
    }
}

/// aws-lc-rs with the key-exchange groups in this order: X25519MLKEM768 (post-quantum hybrid,
/// what Chromium and Firefox offer first), X25519, P-256, P-384. Classical clients get a
/// classical group.
#[cfg(feature = "aws-lc-rs")]
pub fn aws_lc_rs_crypto_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::aws_lc_rs::{default_provider, kx_group};
    // Set here, not left to rustls' `prefer-post-quantum` feature, which any crate may unify.
    let kx_groups = vec![
        kx_group::X25519MLKEM768,
        kx_group::X25519,
        kx_group::SECP256R1,
        kx_group::SECP384R1,
    ];
    Arc::new(CryptoProvider {
        kx_groups,
        ..default_provider()
    })
}

/// ring with classical key exchange only (X25519, P-256, P-384): ring has no ML-KEM, so
/// traffic recorded today could be decrypted by a future quantum computer.
#[cfg(feature = "ring")]
pub fn ring_crypto_provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::{DEFAULT_CIPHER_SUITES, DEFAULT_KX_GROUPS};
    Arc::new(CryptoProvider {
        cipher_suites: DEFAULT_CIPHER_SUITES.to_vec(),
        kx_groups: DEFAULT_KX_GROUPS.to_vec(),
        signature_verification_algorithms: ring_parts::SIGNATURES,
        secure_random: &ring_parts::Ring,
        key_provider: &ring_parts::Ring,
    })
}

/// What rustls' ring module keeps private, made from its public parts and ring itself.
#[cfg(feature = "ring")]
mod ring_parts {
    use std::sync::Arc;

    use rustls::crypto::{GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
    use rustls::sign::SigningKey;
    use rustls::SignatureScheme as S;
    use rustls_pki_types::PrivateKeyDer;
    use webpki::ring as alg;

    #[derive(Debug)]
    pub(super) struct Ring;

    impl SecureRandom for Ring {
        fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buf)
                .map_err(|_| GetRandomFailed)
        }
    }

    impl KeyProvider for Ring {
        fn load_private_key(
            &self,
            key: PrivateKeyDer<'static>,
        ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
            rustls::crypto::ring::sign::any_supported_type(&key)
        }
    }

    /// The signature schemes of TLS 1.3 and 1.2 (RFC 8446 §4.2.3) ring verifies; RSA keys of
    /// 2048 to 8192 bits.
    pub(super) static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        mapping: &[
            // TLS 1.2 does not tie the curve to the scheme; TLS 1.3 does.
            (
                S::ECDSA_NISTP384_SHA384,
                &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
            ),
            (
                S::ECDSA_NISTP256_SHA256,
                &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            ),
            (S::ED25519, &[alg::ED25519]),
            (
                S::RSA_PSS_SHA512,
                &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
            ),
            (
                S::RSA_PSS_SHA384,
                &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            ),
            (
                S::RSA_PSS_SHA256,
                &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            ),
            (S::RSA_PKCS1_SHA512, &[alg::RSA_PKCS1_2048_8192_SHA512]),
            (S::RSA_PKCS1_SHA384, &[alg::RSA_PKCS1_2048_8192_SHA384]),
            (S::RSA_PKCS1_SHA256, &[alg::RSA_PKCS1_2048_8192_SHA256]),
        ],
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::NamedGroup;

    fn groups(p: &CryptoProvider) -> Vec<NamedGroup> {
        p.kx_groups.iter().map(|g| g.name()).collect()
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn the_default_offers_post_quantum_first_then_classical() {
        let p = default_crypto_provider().unwrap();
        assert_eq!(
            groups(&p),
            [
                NamedGroup::X25519MLKEM768,
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_is_classical_and_complete() {
        let p = ring_crypto_provider();
        assert!(!groups(&p).contains(&NamedGroup::X25519MLKEM768));
        let suites: Vec<_> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert!(
            suites.contains(&rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "{suites:?}"
        );
        assert!(rustls::ServerConfig::builder_with_provider(p)
            .with_safe_default_protocol_versions()
            .is_ok());
    }
}
