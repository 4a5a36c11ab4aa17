//! [`CaRoots`] (the CAs client certificates must chain to, with their CRLs, reloadable) and
//! [`ClientAuth`] (whether clients must present a certificate).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};

use super::pem::{parse_certs, read_file};
use super::revocation::{parse_crls, read_crls, Revocation};
use super::{PemSource, TlsError};
use crate::error_chain::ErrorChain;

/// Where the CA certificates come from.
#[derive(Clone, Debug)]
enum CaOrigin {
    File(PathBuf),
    Memory(Vec<CertificateDer<'static>>),
}

/// Where a CRL comes from.
#[derive(Clone, Debug)]
enum CrlOrigin {
    File(PathBuf),
    Memory(Vec<CertificateRevocationListDer<'static>>),
}

/// What is loaded now; `generation` changes with every reload that changed something.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) store: Arc<RootCertStore>,
    pub(super) crls: Vec<CertificateRevocationListDer<'static>>,
    pub(super) generation: u64,
}

#[derive(Debug)]
struct Shared {
    ca: CaOrigin,
    crls: Vec<CrlOrigin>,
    revocation: Revocation,
    loaded: RwLock<Arc<Loaded>>,
    generations: AtomicU64,
}

/// The CA certificates client certificates must chain to, and the CRLs (certificate
/// revocation lists) that revoke some of them.
///
/// Cheap to clone (one `Arc`): every clone, and every handshake of every
/// [`ServerTls`](super::ServerTls) using it, on TCP and QUIC alike, sees a
/// [`reload`](Self::reload) at once. A reload that fails (a malformed CRL, a missing file)
/// keeps what was loaded and says which file and why.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let ca = rcgen::generate_simple_self_signed(vec!["ca".into()])?;
/// use twinport::{CaRoots, tls::Revocation};
///
/// let roots = CaRoots::from_pem(ca.cert.pem().as_bytes())?;
/// // With a CRL file (PEM or DER): `.crl_file("crl.pem")?`, reloaded by `roots.reload()`.
/// let roots = roots.revocation(Revocation::default().leaf_only(true));
/// assert_eq!(roots.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CaRoots {
    shared: Arc<Shared>,
}

fn load_ca(ca: &CaOrigin) -> Result<Arc<RootCertStore>, TlsError> {
    let (certs, src) = match ca {
        CaOrigin::File(path) => {
            let src = PemSource::File(path.clone());
            (parse_certs(&read_file(path)?, &src)?, src)
        }
        CaOrigin::Memory(certs) => (certs.clone(), PemSource::Memory),
    };
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|error| TlsError::InvalidCa {
            source_name: src.clone(),
            error,
        })?;
    }
    Ok(Arc::new(store))
}

fn load_crls(crls: &[CrlOrigin]) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let mut all = Vec::new();
    for origin in crls {
        match origin {
            CrlOrigin::File(path) => all.extend(read_crls(path)?),
            CrlOrigin::Memory(list) => all.extend(list.iter().cloned()),
        }
    }
    Ok(all)
}

impl CaRoots {
    fn new(ca: CaOrigin, crls: Vec<CrlOrigin>, revocation: Revocation) -> Result<Self, TlsError> {
        let loaded = Loaded {
            store: load_ca(&ca)?,
            crls: load_crls(&crls)?,
            generation: 0,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                ca,
                crls,
                revocation,
                loaded: RwLock::new(Arc::new(loaded)),
                generations: AtomicU64::new(0),
            }),
        })
    }

    fn with(&self, crl: Option<CrlOrigin>, revocation: Revocation) -> Result<Self, TlsError> {
        let mut crls = self.shared.crls.clone();
        crls.extend(crl);
        Self::new(self.shared.ca.clone(), crls, revocation)
    }

    /// Reads every certificate of a PEM bundle file; [`reload`](Self::reload) reads it again.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let ca = CaOrigin::File(path.as_ref().to_owned());
        Self::new(ca, Vec::new(), Revocation::default())
    }

    /// Reads every certificate of a PEM bundle in memory.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TlsError> {
        Self::from_der(parse_certs(pem, &PemSource::Memory)?)
    }

    /// Trusts these DER certificates.
    pub fn from_der(
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let ca = CaOrigin::Memory(certs.into_iter().collect());
        Self::new(ca, Vec::new(), Revocation::default())
    }

    /// Checks client certificates against the CRLs of this file too (PEM, one or more
    /// `X509 CRL` sections, or one DER CRL); [`reload`](Self::reload) reads it again.
    pub fn crl_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let crl = CrlOrigin::File(path.as_ref().to_owned());
        self.with(Some(crl), self.shared.revocation)
    }

    /// Checks client certificates against this CRL too (PEM or DER bytes; never reloaded).
    pub fn crl(self, pem_or_der: &[u8]) -> Result<Self, TlsError> {
        let crls = parse_crls(pem_or_der.to_vec(), &PemSource::Memory)?;
        self.with(Some(CrlOrigin::Memory(crls)), self.shared.revocation)
    }

    /// How the CRLs are applied; [`Revocation::default`] (strict) unless set. Without a CRL
    /// no certificate is checked for revocation.
    pub fn revocation(self, revocation: Revocation) -> Self {
        let shared = Shared {
            ca: self.shared.ca.clone(),
            crls: self.shared.crls.clone(),
            revocation,
            loaded: RwLock::new(self.loaded()),
            generations: AtomicU64::new(self.shared.generations.load(Ordering::Relaxed)),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Reads the CA file and the CRL files again; new handshakes use what changed. If one
    /// cannot be read or parsed, nothing changes, the error names the file and why, and it
    /// is logged at warn. Whether anything changed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let next = load_ca(&self.shared.ca).and_then(|store| {
            let crls = load_crls(&self.shared.crls)?;
            Ok((store, crls))
        });
        let (store, crls) = match next {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %ErrorChain::new(&e), "client CA or CRL reload failed; still using the previous ones");
                return Err(e);
            }
        };
        let current = self.loaded();
        if current.store.roots == store.roots && current.crls == crls {
            return Ok(false);
        }
        let generation = self.shared.generations.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(cas = store.len(), crls = crls.len(), files = ?self.files(), "client CA and CRLs reloaded");
        let loaded = Arc::new(Loaded {
            store,
            crls,
            generation,
        });
        *self
            .shared
            .loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner) = loaded;
        Ok(true)
    }

    /// The files [`reload`](Self::reload) reads: the CA file and the CRL files.
    pub fn files(&self) -> Vec<PathBuf> {
        let ca = match &self.shared.ca {
            CaOrigin::File(p) => Some(p.clone()),
            CaOrigin::Memory(_) => None,
        };
        let crls = self.shared.crls.iter().filter_map(|c| match c {
            CrlOrigin::File(p) => Some(p.clone()),
            CrlOrigin::Memory(_) => None,
        });
        ca.into_iter().chain(crls).collect()
    }

    pub(super) fn loaded(&self) -> Arc<Loaded> {
        self.shared
            .loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn revocation_options(&self) -> Revocation {
        self.shared.revocation
    }

    /// How many CA certificates are trusted.
    pub fn len(&self) -> usize {
        self.loaded().store.len()
    }

    /// Whether no CA is trusted.
    pub fn is_empty(&self) -> bool {
        self.loaded().store.is_empty()
    }

    /// How many CRLs are loaded.
    pub fn crl_count(&self) -> usize {
        self.loaded().crls.len()
    }

    /// The rustls trust store as loaded now.
    pub fn store(&self) -> Arc<RootCertStore> {
        self.loaded().store.clone()
    }

    /// Whether both are the same roots (clones of one another).
    pub(super) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

/// Whether and how clients authenticate with certificates (mTLS). The same on TCP and QUIC.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client certificates are asked for (the default).
    #[default]
    None,
    /// A client may present a certificate; if it does, it must chain to these roots (and not
    /// be revoked by their CRLs). Clients without one are served anonymously.
    Optional(CaRoots),
    /// Every client must present a certificate chaining to these roots, not revoked by their
    /// CRLs; others are refused in the handshake.
    Required(CaRoots),
}

impl ClientAuth {
    /// The roots, unless no client certificate is asked for.
    pub fn roots(&self) -> Option<&CaRoots> {
        match self {
            Self::None => None,
            Self::Optional(r) | Self::Required(r) => Some(r),
        }
    }
}
