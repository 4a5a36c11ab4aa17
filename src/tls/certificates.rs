//! [`Certificates`]: several certificates chosen by SNI, one source for every transport,
//! reloaded in place.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;

use super::builder::CertificatesBuilder;
use super::client_auth::CaRoots;
use super::entry::{normalize_all, serial, Entry, Origin, Registration};
use super::resolver::Table;
use super::TlsError;
use crate::error_chain::ErrorChain;

/// Several certificates chosen by the client's SNI, for TCP and QUIC alike, reloadable while
/// serving.
///
/// A name is looked up exactly, then as the `*.` wildcard one label up, then the default
/// certificate answers (handshakes without SNI, unknown names); without a default such
/// handshakes are refused. It is cheap to clone (one `Arc`); every clone and every
/// [`ServerTls`](super::ServerTls) made with
/// [`from_certificates`](super::ServerTls::from_certificates) sees a [`reload`](Self::reload)
/// at once, on new handshakes; connections already open keep their certificate.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("twinport-doc-certs-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # for (name, sans) in [("example", vec!["example.com".to_string(), "www.example.com".into()]), ("wild", vec!["*.example.org".into()]), ("fallback", vec!["localhost".into()])] {
/// #     let c = rcgen::generate_simple_self_signed(sans)?;
/// #     std::fs::write(dir.join(format!("{name}.pem")), c.cert.pem())?;
/// #     std::fs::write(dir.join(format!("{name}.key")), c.key_pair.serialize_pem())?;
/// # }
/// # std::env::set_current_dir(&dir)?;
/// use twinport::{Certificates, ServerTls};
///
/// let certs = Certificates::builder()
///     .pem_files("example.pem", "example.key") // for example.com, www.example.com
///     .pem_files_for(["*.example.org"], "wild.pem", "wild.key")
///     .default_pem_files("fallback.pem", "fallback.key")
///     .build()?;
/// let tls = ServerTls::from_certificates(&certs); // give it to twinport-hyper and twinport-quinn
/// # let _ = tls.tcp_config()?; let _ = tls.quic_config(&[])?;
///
/// // A certificate that does not cover its name is refused when building:
/// let err = Certificates::builder()
///     .pem_files_for(["api.example.net"], "wild.pem", "wild.key")
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("wild.pem: the certificate does not cover \"api.example.net\""));
///
/// certs.reload()?; // after the files changed (or let `watch` do it)
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Certificates {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<CryptoProvider>,
    entries: Mutex<Vec<Entry>>,
    table: RwLock<Arc<Table>>,
    tls_alpn_01: bool,
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    client_cas: Mutex<Vec<CaRoots>>,
}

impl Inner {
    /// The registered certificates, locked (a panic elsewhere does not poison them: every
    /// change is built on a copy and swapped in whole).
    fn entries(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Some certificates could not be reloaded; each keeps serving what it served before.
#[derive(thiserror::Error)]
#[error("{} certificate(s) not reloaded, still serving the old ones: {}", .failures.len(), list(.failures))]
#[non_exhaustive]
pub struct ReloadError {
    /// Why each failed, naming its file.
    pub failures: Vec<TlsError>,
}

crate::error_chain::debug_as_chain!(ReloadError);

fn list(failures: &[TlsError]) -> String {
    let all: Vec<String> = failures
        .iter()
        .map(|e| ErrorChain::new(e).to_string())
        .collect();
    all.join("; ")
}

impl Certificates {
    /// Starts registering certificates.
    pub fn builder() -> CertificatesBuilder {
        CertificatesBuilder::default()
    }

    pub(super) fn new(
        entries: Vec<Entry>,
        provider: Arc<CryptoProvider>,
        tls_alpn_01: bool,
    ) -> Result<Self, TlsError> {
        let table = build_table(&entries)?;
        Ok(Self {
            inner: Arc::new(Inner {
                provider,
                entries: Mutex::new(entries),
                table: RwLock::new(Arc::new(table)),
                tls_alpn_01,
                challenges: RwLock::default(),
                client_cas: Mutex::default(),
            }),
        })
    }

    /// Reads every certificate registered from files again and serves what changed to new
    /// handshakes. A certificate that cannot be loaded (missing file, bad PEM, a key that
    /// does not match, names no longer covered) keeps the one it had; the error lists each
    /// such file and why, and each is logged at warn. Returns how many certificates changed.
    pub fn reload(&self) -> Result<usize, ReloadError> {
        let mut entries = self.inner.entries();
        let mut next = entries.clone();
        let (mut changed, mut failures) = (0, Vec::new());
        for entry in next.iter_mut() {
            match entry.reload(&self.inner.provider) {
                Some(Ok(new)) if new.key.cert != entry.key.cert || new.names != entry.names => {
                    tracing::info!(
                        cert = %entry.cert_source(),
                        serial = serial(&new.key),
                        names = ?new.names,
                        "certificate reloaded"
                    );
                    *entry = new;
                    changed += 1;
                }
                None | Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(
                        cert = %entry.cert_source(),
                        error = %ErrorChain::new(&e),
                        "certificate reload failed; still serving the previous certificate"
                    );
                    failures.push(e);
                }
            }
        }
        if changed > 0 {
            match self.publish(&next) {
                Ok(()) => *entries = next,
                Err(e) => {
                    tracing::warn!(error = %ErrorChain::new(&e), "reloaded certificates conflict; still serving the previous ones");
                    failures.push(e);
                    changed = 0;
                }
            }
        }
        for roots in self.client_cas() {
            match roots.reload() {
                Ok(true) => changed += 1,
                Ok(false) => {}
                Err(e) => failures.push(e),
            }
        }
        if failures.is_empty() {
            Ok(changed)
        } else {
            Err(ReloadError { failures })
        }
    }

    /// Serves `key` for `names` from now on, replacing the certificate inserted for exactly
    /// these names before (how an ACME client of your own hands over what it obtained). The
    /// certificate must cover every name, and no other certificate may be registered for one.
    pub fn insert(
        &self,
        names: impl IntoIterator<Item = impl AsRef<str>>,
        key: Arc<CertifiedKey>,
    ) -> Result<(), TlsError> {
        let names = normalize_all(names)?;
        let registration = Registration::Names(names);
        let entry = Entry::new(registration.clone(), Origin::Memory, key)?;
        let mut entries = self.inner.entries();
        let mut next = entries.clone();
        let slot = next
            .iter()
            .position(|e| matches!(e.origin, Origin::Memory) && e.registration == registration);
        match slot {
            Some(i) => next[i] = entry,
            None => next.push(entry),
        }
        self.publish(&next)?;
        *entries = next;
        Ok(())
    }

    /// Reloads `roots` (client CA and CRLs) with these certificates from now on.
    pub(super) fn reload_also(&self, roots: &CaRoots) {
        let mut cas = self
            .inner
            .client_cas
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !cas.iter().any(|r| r.same(roots)) {
            cas.push(roots.clone());
        }
    }

    fn client_cas(&self) -> Vec<CaRoots> {
        let cas = self
            .inner
            .client_cas
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cas.clone()
    }

    fn publish(&self, entries: &[Entry]) -> Result<(), TlsError> {
        let table = build_table(entries)?;
        *self
            .inner
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        Ok(())
    }

    pub(super) fn table(&self) -> Arc<Table> {
        self.inner
            .table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The certificate served to `server_name` now (what a handshake with that SNI gets;
    /// `None` for no SNI), or `None` if such a handshake is refused.
    pub fn lookup(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        self.table().lookup(server_name)
    }

    /// The crypto provider the keys were loaded with.
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.inner.provider
    }

    /// This set as a rustls resolver, for a `ServerConfig` of your own.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        Arc::new(self.clone())
    }

    /// The files the certificates are loaded from (certificate, then key, for each).
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        let entries = self.inner.entries();
        let mut files = Vec::new();
        for e in entries.iter() {
            if let Origin::Files { cert, key } = &e.origin {
                files.extend([cert.clone(), key.clone()]);
            }
        }
        drop(entries);
        files.extend(self.client_cas().iter().flat_map(CaRoots::files));
        files
    }

    pub(super) fn answers_tls_alpn_01(&self) -> bool {
        self.inner.tls_alpn_01
    }

    pub(super) fn challenge(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let challenges = self
            .inner
            .challenges
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        challenges.get(&name.to_ascii_lowercase()).cloned()
    }

    /// Answers the TLS-ALPN-01 challenge for `name` with `key` (`None`: no longer).
    #[cfg_attr(not(feature = "acme"), allow(dead_code))]
    pub(crate) fn set_challenge(&self, name: &str, key: Option<Arc<CertifiedKey>>) {
        let mut challenges = self
            .inner
            .challenges
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match key {
            Some(k) => challenges.insert(name.to_ascii_lowercase(), k),
            None => challenges.remove(&name.to_ascii_lowercase()),
        };
    }
}

/// The lookup table of these entries: every name once, one default at most.
fn build_table(entries: &[Entry]) -> Result<Table, TlsError> {
    let mut table = Table::default();
    let mut owner: HashMap<&str, &Entry> = HashMap::new();
    let mut default: Option<&Entry> = None;
    for entry in entries {
        if entry.registration == Registration::Default {
            if let Some(first) = default {
                return Err(TlsError::DuplicateDefault {
                    first: first.cert_source(),
                    second: entry.cert_source(),
                });
            }
            default = Some(entry);
            table.default = Some(entry.key.clone());
        }
        for name in &entry.names {
            if let Some(first) = owner.insert(name, entry) {
                return Err(TlsError::DuplicateName {
                    name: name.clone(),
                    first: first.cert_source(),
                    second: entry.cert_source(),
                });
            }
            table.by_name.insert(name.clone(), entry.key.clone());
        }
    }
    Ok(table)
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.table();
        let mut names: Vec<&String> = table.by_name.keys().collect();
        names.sort();
        f.debug_struct("Certificates")
            .field("names", &names)
            .field("default", &table.default.is_some())
            .field("tls_alpn_01", &self.inner.tls_alpn_01)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_error_lists_each_failure_with_its_cause_once() {
        let e = ReloadError {
            failures: vec![
                TlsError::Read {
                    path: "a.pem".into(),
                    source: std::io::Error::other("disk gone"),
                },
                TlsError::NoCertificates,
            ],
        };
        let text = e.to_string();
        assert!(text.contains("a.pem: cannot read: disk gone"), "{text}");
        assert!(text.contains("; no certificates"), "{text}");
        assert_eq!(format!("{e:?}"), text);
        assert_eq!(text.matches("disk gone").count(), 1, "{text}");
    }
}
