//! Development certificates: a CA, a server certificate and a client certificate, written as
//! PEM files. For local testing only (feature `dev-certs`).
//!
//! [`DevCerts::ensure`] generates the files when any is missing and reuses them otherwise, so
//! examples and tests can call it on every start.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("twinport-doc-certs-{}", std::process::id()));
//! let certs = twinport::dev_certs::DevCerts::ensure(&dir)?;
//! let tls = certs.server_tls()?; // a ServerTls for localhost, 127.0.0.1 and ::1
//! assert!(certs.client_pem.exists() && certs.server_spki.exists());
//! # drop(tls);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::tls::{CaRoots, ServerTls, TlsError};
use crate::{connection_info::CertificateError, BoxError};

/// The password of `client.p12`.
pub const P12_PASSWORD: &str = "twinport";

/// Why development certificates could not be made.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DevCertsError {
    /// A file could not be written or read.
    #[error("{path}: cannot write or read the development certificate")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Certificate generation failed.
    #[error("cannot generate the development certificates")]
    Generate(#[source] BoxError),
}

crate::error_chain::debug_as_chain!(DevCertsError);

/// The paths of the development certificate files in one directory.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DevCerts {
    /// The directory.
    pub dir: PathBuf,
    /// The CA certificate (trust it in clients).
    pub ca_pem: PathBuf,
    /// The CA key.
    pub ca_key: PathBuf,
    /// The server certificate (SANs localhost, 127.0.0.1, ::1).
    pub server_pem: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The server certificate as DER.
    pub server_crt: PathBuf,
    /// The base64 SHA-256 of the server key's SPKI, for Chromium's
    /// `--ignore-certificate-errors-spki-list`.
    pub server_spki: PathBuf,
    /// A client certificate (CN `twinport-dev-client`, an email and a SPIFFE URI SAN).
    pub client_pem: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
    /// The client certificate and key as PKCS#12, password [`P12_PASSWORD`], for browsers.
    pub client_p12: PathBuf,
}

fn gen_err(e: impl Into<BoxError>) -> DevCertsError {
    DevCertsError::Generate(e.into())
}

impl DevCerts {
    /// The file paths in `dir`, whether or not they exist.
    pub fn paths(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref().to_path_buf();
        let p = |n: &str| dir.join(n);
        Self {
            ca_pem: p("ca.pem"),
            ca_key: p("ca.key"),
            server_pem: p("server.pem"),
            server_key: p("server.key"),
            server_crt: p("server.crt"),
            server_spki: p("server.spki"),
            client_pem: p("client.pem"),
            client_key: p("client.key"),
            client_p12: p("client.p12"),
            dir,
        }
    }

    fn all(&self) -> [&PathBuf; 9] {
        [
            &self.ca_pem,
            &self.ca_key,
            &self.server_pem,
            &self.server_key,
            &self.server_crt,
            &self.server_spki,
            &self.client_pem,
            &self.client_key,
            &self.client_p12,
        ]
    }

    /// The files holding private keys: written readable by their owner only (0600).
    fn private(&self) -> [&PathBuf; 4] {
        [
            &self.ca_key,
            &self.server_key,
            &self.client_key,
            &self.client_p12,
        ]
    }

    /// Generates the certificates in `dir` unless all files are already there. Private keys
    /// found readable by others (written by an older version) are made owner-only. Processes
    /// (and threads) that call it at once on one directory take turns on a lock file in it
    /// (`.dev-certs.lock`), so they all end up with the same, matching set.
    pub fn ensure(dir: impl AsRef<Path>) -> Result<Self, DevCertsError> {
        let certs = Self::paths(dir);
        let _lock = certs.lock()?;
        if certs.all().iter().all(|p| p.exists()) {
            for path in certs.private() {
                owner_only(path)?;
            }
            return Ok(certs);
        }
        certs.write_new()?;
        Ok(certs)
    }

    /// Generates fresh certificates in `dir`, replacing any there (under the same lock as
    /// [`ensure`](Self::ensure)).
    pub fn generate(dir: impl AsRef<Path>) -> Result<Self, DevCertsError> {
        let certs = Self::paths(dir);
        let _lock = certs.lock()?;
        certs.write_new()?;
        Ok(certs)
    }

    /// Creates the directory and takes its lock file (exclusive until dropped): without it,
    /// two callers generating at once interleave their files, and the key on disk need not
    /// match the certificate.
    fn lock(&self) -> Result<std::fs::File, DevCertsError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| DevCertsError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join(".dev-certs.lock");
        let io_err = |source| DevCertsError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err)?;
        file.lock().map_err(io_err)?;
        Ok(file)
    }

    /// Generates a CA, server and client certificate and writes all files.
    fn write_new(&self) -> Result<(), DevCertsError> {
        let certs = self;

        let ca_key = KeyPair::generate().map_err(gen_err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "twinport development CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(gen_err)?;

        let server_key = KeyPair::generate().map_err(gen_err)?;
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).map_err(gen_err)?;
        server
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        server
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&server_key, &ca_cert, &ca_key)
            .map_err(gen_err)?;

        let client_key = KeyPair::generate().map_err(gen_err)?;
        let mut client = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
        client
            .distinguished_name
            .push(DnType::CommonName, "twinport-dev-client");
        client.subject_alt_names.push(SanType::Rfc822Name(
            "dev@twinport.test".try_into().map_err(gen_err)?,
        ));
        client.subject_alt_names.push(SanType::URI(
            "spiffe://twinport.test/dev-client"
                .try_into()
                .map_err(gen_err)?,
        ));
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = client
            .signed_by(&client_key, &ca_cert, &ca_key)
            .map_err(gen_err)?;

        let p12 = pkcs12(&client_key, client_cert.der(), ca_cert.der())?;
        let spki = spki_sha256_base64(server_cert.der()).map_err(gen_err)?;

        let files: [(&PathBuf, Vec<u8>); 9] = [
            (&certs.ca_pem, ca_cert.pem().into_bytes()),
            (&certs.ca_key, ca_key.serialize_pem().into_bytes()),
            (&certs.server_pem, server_cert.pem().into_bytes()),
            (&certs.server_key, server_key.serialize_pem().into_bytes()),
            (&certs.server_crt, server_cert.der().to_vec()),
            (&certs.server_spki, format!("{spki}\n").into_bytes()),
            (&certs.client_pem, client_cert.pem().into_bytes()),
            (&certs.client_key, client_key.serialize_pem().into_bytes()),
            (&certs.client_p12, p12),
        ];
        for (path, data) in files {
            write(path, &data, certs.private().contains(&path))?;
        }
        Ok(())
    }

    /// A [`ServerTls`] with the server certificate and key.
    pub fn server_tls(&self) -> Result<ServerTls, TlsError> {
        ServerTls::from_pem_files(&self.server_pem, &self.server_key)
    }

    /// The CA, as roots for client authentication.
    pub fn ca_roots(&self) -> Result<CaRoots, TlsError> {
        CaRoots::from_pem_file(&self.ca_pem)
    }

    /// The SPKI hash of the server key, as written in `server.spki`.
    pub fn spki(&self) -> Result<String, DevCertsError> {
        std::fs::read_to_string(&self.server_spki)
            .map(|s| s.trim().to_owned())
            .map_err(|source| DevCertsError::Io {
                path: self.server_spki.clone(),
                source,
            })
    }
}

/// The base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the form Chromium's
/// `--ignore-certificate-errors-spki-list` takes.
pub fn spki_sha256_base64(cert_der: &[u8]) -> Result<String, CertificateError> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| CertificateError::Parse(e.into()))?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// Writes `data` to `path`; a `private` file is readable by its owner only (0600 on Unix),
/// from the moment it is created.
fn write(path: &Path, data: &[u8], private: bool) -> Result<(), DevCertsError> {
    use std::io::Write;
    let io_err = |source| DevCertsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err)?;
    if private {
        // The mode only applies to a new file: an old one keeps its own.
        owner_only(path)?;
    }
    file.write_all(data).map_err(io_err)
}

/// Makes `path` readable and writable by its owner only (Unix; elsewhere a no-op).
fn owner_only(path: &Path) -> Result<(), DevCertsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io_err = |source| DevCertsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path)
            .map_err(io_err)?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err)?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn pkcs12(key: &KeyPair, cert: &[u8], ca: &[u8]) -> Result<Vec<u8>, DevCertsError> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = PrivateKey::from_der(&key.serialize_der()).map_err(gen_err)?;
    let chain = [
        Certificate::from_der(cert).map_err(gen_err)?,
        Certificate::from_der(ca).map_err(gen_err)?,
    ];
    let local_id = Sha256::digest(cert).to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        "twinport-dev-client",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_id, key, chain)),
    );
    store.writer(P12_PASSWORD).write().map_err(gen_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_then_reuses_and_the_chain_verifies() {
        let dir = std::env::temp_dir().join(format!("twinport-devcerts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = DevCerts::ensure(&dir).unwrap();
        let first = std::fs::read(&certs.server_pem).unwrap();
        let again = DevCerts::ensure(&dir).unwrap();
        assert_eq!(
            std::fs::read(&again.server_pem).unwrap(),
            first,
            "ensure regenerated"
        );

        let tls = certs
            .server_tls()
            .unwrap()
            .client_auth(crate::ClientAuth::Required(certs.ca_roots().unwrap()));
        tls.tcp_config().unwrap();

        let client = std::fs::read(&certs.client_pem).unwrap();
        let der = rustls_pki_types::CertificateDer::from_pem_slice(&client).unwrap();
        let peer = crate::connection_info::PeerCertificate::from_chain(vec![der]).unwrap();
        assert_eq!(peer.common_name(), Some("twinport-dev-client"));
        assert_eq!(peer.spiffe_id(), Some("spiffe://twinport.test/dev-client"));

        let spki = certs.spki().unwrap();
        assert_eq!(spki.len(), 44, "{spki}");

        let p12 = std::fs::read(&certs.client_p12).unwrap();
        let store = p12_keystore::KeyStore::from_pkcs12(
            &p12,
            P12_PASSWORD,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .unwrap();
        assert!(store.private_key_chain().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two example servers started at once in a fresh checkout both generated certificates
    /// into the empty `certs/`, and one of them failed: "private key ... does not match the
    /// certificate" (it loaded one caller's key beside the other's certificate). Now a caller
    /// waits while another holds the directory's lock, and then finds a whole set.
    #[test]
    fn a_caller_waits_for_the_one_generating() {
        let dir = std::env::temp_dir().join(format!("twinport-devlock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = DevCerts::paths(&dir);
        // Another caller, half-way through writing.
        let held = certs.lock().unwrap();
        std::fs::write(&certs.server_pem, b"half-written").unwrap();
        let (done_tx, done) = std::sync::mpsc::channel();
        let waiter = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let ensured = DevCerts::ensure(&dir);
                let _ = done_tx.send(());
                ensured
            })
        };
        assert!(
            done.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "ensure went ahead while another caller held the lock"
        );
        certs.write_new().unwrap();
        drop(held);
        done.recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        let ensured = waiter.join().unwrap().unwrap();
        // It found the other caller's whole set, and did not write its own over it.
        let written = std::fs::read(&certs.server_pem).unwrap();
        assert_eq!(std::fs::read(&ensured.server_pem).unwrap(), written);
        ensured.server_tls().unwrap().tcp_config().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn private_keys_are_owner_only_and_certificates_readable() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir().join(format!("twinport-devkeys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = DevCerts::generate(&dir).unwrap();
        for key in certs.private() {
            assert_eq!(mode(key), 0o600, "{}", key.display());
        }

        // Keys an older version left world-readable: ensure tightens them.
        std::fs::set_permissions(&certs.ca_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        DevCerts::ensure(&dir).unwrap();
        assert_eq!(mode(&certs.ca_key), 0o600);
        // And regenerating over them too.
        std::fs::set_permissions(&certs.server_key, std::fs::Permissions::from_mode(0o644))
            .unwrap();
        DevCerts::generate(&dir).unwrap();
        assert_eq!(mode(&certs.server_key), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use rustls_pki_types::pem::PemObject;
}
