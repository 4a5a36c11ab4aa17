//! [`ClientVerifier`]: rustls' client-certificate verifier for what a [`CaRoots`] holds now,
//! rebuilt when it reloads, so new handshakes on every transport follow a new CRL or CA.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::client_auth::{CaRoots, Loaded};
use super::TlsError;
use crate::error_chain::ErrorChain;

/// The CA names sent in the CertificateRequest, one entry per change. rustls borrows them from
/// the verifier, so a list once handed out must live as long as it: entries are only added.
#[derive(Debug, Default)]
struct Hints {
    subjects: Vec<DistinguishedName>,
    next: OnceLock<Box<Hints>>,
}

impl Hints {
    fn latest(&self) -> &Self {
        let mut hints = self;
        while let Some(next) = hints.next.get() {
            hints = next;
        }
        hints
    }

    fn update(&self, subjects: Vec<DistinguishedName>) {
        let latest = self.latest();
        let same = latest.subjects.len() == subjects.len()
            && latest
                .subjects
                .iter()
                .zip(&subjects)
                .all(|(a, b)| a.as_ref() == b.as_ref());
        if !same {
            let _ = latest.next.set(Box::new(Self {
                subjects,
                next: OnceLock::new(),
            }));
        }
    }
}

#[derive(Debug)]
pub(super) struct ClientVerifier {
    roots: CaRoots,
    provider: Arc<CryptoProvider>,
    optional: bool,
    current: RwLock<(u64, Arc<dyn ClientCertVerifier>)>,
    hints: Hints,
}

fn build(
    loaded: &Loaded,
    roots: &CaRoots,
    provider: &Arc<CryptoProvider>,
    optional: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let mut b = WebPkiClientVerifier::builder_with_provider(loaded.store.clone(), provider.clone());
    if !loaded.crls.is_empty() {
        b = roots
            .revocation_options()
            .apply(b.with_crls(loaded.crls.iter().cloned()));
    }
    if optional {
        b = b.allow_unauthenticated();
    }
    Ok(b.build()?)
}

impl ClientVerifier {
    pub(super) fn new(
        roots: &CaRoots,
        provider: &Arc<CryptoProvider>,
        optional: bool,
    ) -> Result<Self, TlsError> {
        let loaded = roots.loaded();
        let verifier = build(&loaded, roots, provider, optional)?;
        let hints = Hints {
            subjects: loaded.store.subjects(),
            next: OnceLock::new(),
        };
        Ok(Self {
            roots: roots.clone(),
            provider: provider.clone(),
            optional,
            current: RwLock::new((loaded.generation, verifier)),
            hints,
        })
    }

    /// The verifier for what the roots hold now, rebuilt after a reload.
    fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        let loaded = self.roots.loaded();
        {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            if current.0 == loaded.generation {
                return current.1.clone();
            }
        }
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        match build(&loaded, &self.roots, &self.provider, self.optional) {
            Ok(verifier) => {
                self.hints.update(loaded.store.subjects());
                *current = (loaded.generation, verifier);
            }
            Err(e) => {
                tracing::warn!(error = %ErrorChain::new(&e), "reloaded client CA or CRLs refused; still using the previous ones");
                current.0 = loaded.generation;
            }
        }
        current.1.clone()
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        !self.optional
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        let _ = self.verifier();
        &self.hints.latest().subjects
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.verifier()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.verifier().supported_verify_schemes()
    }
}
