//! TLS configuration shared by every transport: [`ServerTls`] and [`ClientAuth`].
//!
//! One `ServerTls` makes the rustls configuration of the TCP side (ALPN `h2`, `http/1.1`) and
//! of the QUIC side (ALPN `h3` plus any raw QUIC protocols), so a client certificate means the
//! same thing on both. Certificates and keys are read from PEM; every error names the file and
//! what was wrong with it.
//!
//! Beyond one certificate: [`Certificates`] chooses among several by SNI and reloads them
//! ([`Certificates::reload`], and `Certificates::watch` with the `watch` feature);
//! [`ServerTls::from_resolver`] and [`ServerTls::from_server_config`] take your own. Client
//! authentication is one policy per `ServerTls`, the same on TCP and QUIC (quinn cannot
//! choose a configuration after the ClientHello, quinn issue 2024).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use twinport::{CaRoots, ClientAuth, ServerTls};
//!
//! # let ca = rcgen::generate_simple_self_signed(vec!["ca".into()])?;
//! # let server = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
//! # let (cert_pem, key_pem, ca_pem) = (server.cert.pem(), server.key_pair.serialize_pem(), ca.cert.pem());
//! let tls = ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
//!     .client_auth(ClientAuth::optional(CaRoots::from_pem(ca_pem.as_bytes())?));
//!
//! let tcp = tls.tcp_config()?;
//! assert_eq!(tcp.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
//! let quic = tls.quic_config(&[b"my-proto".as_slice()])?;
//! assert_eq!(quic.alpn_protocols, [b"h3".to_vec(), b"my-proto".to_vec()]);
//! assert_eq!(quic.max_early_data_size, 0); // 0-RTT is off unless asked for
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::BoxError;

mod builder;
mod certificates;
mod client_auth;
mod client_verifier;
mod entry;
mod names;
mod provider;
mod resolver;
mod revocation;
mod source;
#[cfg(feature = "watch")]
mod watch;

pub use builder::CertificatesBuilder;
pub use certificates::{Certificates, ReloadError};
pub use client_auth::{CaRoots, ClientAuth};
use client_verifier::ClientVerifier;
#[cfg(feature = "acme")]
pub(crate) use entry::load_pem;
#[cfg(feature = "aws-lc-rs")]
pub use provider::aws_lc_rs_crypto_provider;
pub use provider::default_crypto_provider;
#[cfg(feature = "ring")]
pub use provider::ring_crypto_provider;
pub use revocation::Revocation;
use source::CertSource;

/// Every name normalized (lower case, no trailing dot), or the first that is not one.
#[cfg(feature = "acme")]
pub(crate) fn normalize_names(names: &[String]) -> Result<Vec<String>, TlsError> {
    entry::normalize_all(names)
}
#[cfg(feature = "watch")]
pub use watch::{CertWatcher, DEFAULT_DEBOUNCE};

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
        /// The parser's error (x509-parser's, or a [`CertificateError`](crate::CertificateError)).
        #[source]
        source: BoxError,
    },
    /// The file watcher could not be started.
    #[error("cannot watch {path} for changes")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// The watcher's error (notify's), or [`NoRuntime`](crate::server::NoRuntime).
        #[source]
        source: BoxError,
    },
}

crate::error_chain::debug_as_chain!(TlsError);

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TlsError::NotFound(path.to_owned(), e),
        _ => TlsError::Read {
            path: path.to_owned(),
            source: e,
        },
    })
}

fn parse_certs(pem: &[u8], src: &PemSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

fn parse_key(pem: &[u8], src: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey(src.clone()),
        source => TlsError::InvalidPem {
            source_name: src.clone(),
            source,
        },
    })
}

/// A server certificate, its key, client authentication and the crypto provider: everything
/// to make the rustls configuration of every transport. See the [module docs](self).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct ServerTls {
    certs: CertSource,
    client_auth: ClientAuth,
    provider: Arc<CryptoProvider>,
    early_data: bool,
}

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A certificate chain and its key, checked to belong together.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    cert_src: PemSource,
    key: PrivateKeyDer<'static>,
    key_src: PemSource,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| TlsError::InvalidKey {
            source_name: key_src.clone(),
            error,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        // Keys whose public half rustls cannot derive are not checked.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(_) => Err(TlsError::KeyMismatch {
            cert: cert_src,
            key: key_src,
        }),
    }
}

impl ServerTls {
    /// Loads the certificate chain (leaf first) and the private key from PEM files.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = read_file(cert)?;
        let key_pem = read_file(key)?;
        Self::load(
            &cert_pem,
            PemSource::File(cert.to_owned()),
            &key_pem,
            PemSource::File(key.to_owned()),
        )
    }

    /// Loads the certificate chain (leaf first) and the private key from PEM bytes.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Self::load(cert, PemSource::Memory, key, PemSource::Memory)
    }

    /// Uses a DER certificate chain and key.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(PemSource::Memory));
        }
        Self::build(
            chain,
            PemSource::Memory,
            key,
            PemSource::Memory,
            default_crypto_provider()?,
        )
    }

    fn load(
        cert: &[u8],
        cert_src: PemSource,
        key: &[u8],
        key_src: PemSource,
    ) -> Result<Self, TlsError> {
        let chain = parse_certs(cert, &cert_src)?;
        let key_der = parse_key(key, &key_src)?;
        Self::build(
            chain,
            cert_src,
            key_der,
            key_src,
            default_crypto_provider()?,
        )
    }

    fn build(
        chain: Vec<CertificateDer<'static>>,
        cert_src: PemSource,
        key: PrivateKeyDer<'static>,
        key_src: PemSource,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let certified = certified_key(chain, cert_src, key, key_src, &provider)?;
        Ok(Self::with_source(
            CertSource::Single(Arc::new(certified)),
            provider,
        ))
    }

    fn with_source(certs: CertSource, provider: Arc<CryptoProvider>) -> Self {
        Self {
            certs,
            client_auth: ClientAuth::None,
            provider,
            early_data: false,
        }
    }

    /// Serves the certificates of `certs`, chosen by SNI, reloaded when they are
    /// ([`Certificates::reload`]); handshakes on every transport see a reload at once. The
    /// crypto provider is the one `certs` loaded its keys with.
    pub fn from_certificates(certs: &Certificates) -> Self {
        Self::with_source(
            CertSource::Certificates(certs.clone()),
            certs.provider().clone(),
        )
    }

    /// Serves the certificates your own resolver picks (a KMS-backed signer, another ACME
    /// client, ...), on TCP and QUIC alike. Client authentication, ALPN and 0-RTT are still
    /// set here.
    pub fn from_resolver(resolver: Arc<dyn ResolvesServerCert>) -> Result<Self, TlsError> {
        Ok(Self::with_source(
            CertSource::Resolver(resolver),
            default_crypto_provider()?,
        ))
    }

    /// Uses a complete rustls configuration of your own on TCP and QUIC. twinport only sets
    /// its ALPN list per transport (and, for QUIC, `max_early_data_size` from
    /// [`early_data`](Self::early_data)); its certificate resolver, client-certificate
    /// verifier, protocol versions and provider are yours ([`client_auth`](Self::client_auth)
    /// and [`crypto_provider`](Self::crypto_provider) do not change them). QUIC needs it to
    /// allow TLS 1.3 with a cipher suite QUIC can use.
    pub fn from_server_config(config: Arc<ServerConfig>) -> Self {
        let provider = config.crypto_provider().clone();
        Self::with_source(CertSource::Config(config), provider)
    }

    /// Sets client authentication (mTLS); [`ClientAuth::None`] by default. With
    /// [`from_certificates`](Self::from_certificates), [`Certificates::reload`] reloads the
    /// client CA and CRL files too.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        if let (CertSource::Certificates(certs), Some(roots)) = (&self.certs, auth.roots()) {
            certs.reload_also(roots);
        }
        self.client_auth = auth;
        self
    }

    /// Uses this rustls crypto provider for the handshakes instead of the
    /// [default](default_crypto_provider). The private key stays as it was loaded.
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = provider;
        self
    }

    /// Accepts QUIC 0-RTT early data (off by default; TCP never accepts it). Early requests
    /// can be replayed by an attacker; the HTTP/3 transport only serves safe methods from early
    /// data and holds the others until the handshake completes.
    pub fn early_data(mut self, enabled: bool) -> Self {
        self.early_data = enabled;
        self
    }

    /// Whether 0-RTT is on.
    pub fn early_data_enabled(&self) -> bool {
        self.early_data
    }

    /// The client authentication mode.
    pub fn client_auth_mode(&self) -> &ClientAuth {
        &self.client_auth
    }

    /// The certificate chain (leaf first) of a `ServerTls` made from one certificate;
    /// `None` when certificates are chosen per handshake ([`from_certificates`],
    /// [`from_resolver`], [`from_server_config`]).
    ///
    /// [`from_certificates`]: Self::from_certificates
    /// [`from_resolver`]: Self::from_resolver
    /// [`from_server_config`]: Self::from_server_config
    pub fn certificate_chain(&self) -> Option<&[CertificateDer<'static>]> {
        self.certs.single_chain()
    }

    /// The crypto provider in use.
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    fn config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: Vec<Vec<u8>>,
    ) -> Result<ServerConfig, TlsError> {
        let resolver: Arc<dyn ResolvesServerCert> = match &self.certs {
            CertSource::Config(config) => {
                let mut config = ServerConfig::clone(config);
                config.alpn_protocols = alpn;
                return Ok(config);
            }
            CertSource::Single(k) => Arc::new(SingleCertAndKey::from(k.clone())),
            CertSource::Resolver(r) => r.clone(),
            CertSource::Certificates(c) => c.resolver(),
        };
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(versions)?;
        let builder = match &self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
                let optional = matches!(self.client_auth, ClientAuth::Optional(_));
                let verifier = ClientVerifier::new(roots, &self.provider, optional)?;
                builder.with_client_cert_verifier(Arc::new(verifier))
            }
        };
        let mut config = builder.with_cert_resolver(resolver);
        config.alpn_protocols = alpn;
        Ok(config)
    }

    /// The rustls configuration for TCP: TLS 1.3 and 1.2, ALPN `h2` then `http/1.1`.
    pub fn tcp_config(&self) -> Result<ServerConfig, TlsError> {
        self.tcp_config_with_alpn(vec![b"h2".to_vec(), b"http/1.1".to_vec()])
    }

    /// The rustls configuration for TCP with your own ALPN list (in preference order).
    ///
    /// 0-RTT stays off on TCP even with [`early_data`](Self::early_data): tokio-rustls does
    /// not hand early data to the HTTP server, so a client's 0-RTT request would hang.
    ///
    /// When the certificates answer ACME TLS-ALPN-01 challenges, `acme-tls/1` is added at the
    /// end of the list (a client offering only that protocol gets a challenge certificate).
    pub fn tcp_config_with_alpn(&self, mut alpn: Vec<Vec<u8>>) -> Result<ServerConfig, TlsError> {
        if self.certs.answers_tls_alpn_01() && !alpn.iter().any(|a| a == ACME_TLS_ALPN) {
            alpn.push(ACME_TLS_ALPN.to_vec());
        }
        let mut config = self.config(rustls::DEFAULT_VERSIONS, alpn)?;
        config.max_early_data_size = 0;
        Ok(config)
    }

    /// The rustls configuration for QUIC: TLS 1.3 only, ALPN `h3` followed by `extra_alpn`
    /// (raw QUIC protocols), in that preference order.
    pub fn quic_config(&self, extra_alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
        let mut alpn = vec![b"h3".to_vec()];
        alpn.extend(extra_alpn.iter().map(|a| a.to_vec()));
        self.quic_config_with_alpn(alpn)
    }

    /// The rustls configuration for QUIC with exactly this ALPN list (in preference order).
    pub fn quic_config_with_alpn(&self, alpn: Vec<Vec<u8>>) -> Result<ServerConfig, TlsError> {
        let mut config = self.config(&[&rustls::version::TLS13], alpn)?;
        // QUIC requires this to be 0 or u32::MAX (RFC 9001 §4.6.1).
        config.max_early_data_size = if self.early_data { u32::MAX } else { 0 };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files {
        dir: PathBuf,
    }

    impl Files {
        fn new(tag: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("twinport-tls-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self { dir }
        }
        fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
            let p = self.dir.join(name);
            std::fs::write(&p, data).unwrap();
            p
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    #[test]
    fn good_files_give_both_configs() {
        let f = Files::new("good");
        let (cert, key) = pair();
        let tls = ServerTls::from_pem_files(f.write("c.pem", cert), f.write("k.pem", key)).unwrap();
        assert_eq!(tls.tcp_config().unwrap().alpn_protocols[0], b"h2");
        let q = tls.quic_config(&[]).unwrap();
        assert_eq!(q.alpn_protocols, [b"h3".to_vec()]);
        let early = tls.clone().early_data(true);
        assert_eq!(
            early.quic_config(&[]).unwrap().max_early_data_size,
            u32::MAX
        );
        assert_eq!(early.tcp_config().unwrap().max_early_data_size, 0);
    }

    #[test]
    fn each_bad_file_has_its_own_error_naming_it() {
        let f = Files::new("bad");
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let cert_p = f.write("cert.pem", &cert);
        let key_p = f.write("key.pem", &key);
        let missing = f.dir.join("missing.pem");

        let e = ServerTls::from_pem_files(&missing, &key_p).unwrap_err();
        assert!(matches!(e, TlsError::NotFound(..)), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let e = ServerTls::from_pem_files(f.dir.as_path(), &key_p).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        let os = std::fs::read(&f.dir).unwrap_err().to_string();
        twinport_testkit::assert_cause_once(&e, &os);

        let e = ServerTls::from_pem_files(&key_p, &key_p).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");
        assert!(e.to_string().contains("key.pem"), "{e}");

        let e = ServerTls::from_pem_files(&cert_p, &cert_p).unwrap_err();
        assert!(matches!(e, TlsError::NoPrivateKey(_)), "{e}");
        assert!(e.to_string().contains("cert.pem"), "{e}");

        let broken = f.write(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
        );
        let e = ServerTls::from_pem_files(&broken, &key_p).unwrap_err();
        assert!(matches!(e, TlsError::InvalidPem { .. }), "{e}");
        twinport_testkit::assert_typed_cause::<rustls_pki_types::pem::Error>(&e);

        let other = f.write("other.key", other_key);
        let e = ServerTls::from_pem_files(&cert_p, &other).unwrap_err();
        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
        assert!(
            e.to_string().contains("other.key") && e.to_string().contains("cert.pem"),
            "{e}"
        );

        let e = CaRoots::from_pem_file(&key_p).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");
    }

    #[test]
    fn a_key_rustls_cannot_use_keeps_rustls_error() {
        let (cert, _) = pair();
        // A PKCS#8 section that is not a key: rustls refuses it when loading.
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::InvalidKey { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("<PEM bytes>: unusable private key"),
            "{e}"
        );
        twinport_testkit::assert_typed_cause::<rustls::Error>(&e);
    }

    #[test]
    fn a_certificate_x509_cannot_parse_keeps_the_parser_error() {
        let leaf = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let e = names::dns_names(&leaf, &PemSource::Memory).unwrap_err();
        assert!(matches!(e, TlsError::BadCertificate { .. }), "{e}");
        assert_eq!(e.to_string(), "<PEM bytes>: cannot parse the certificate");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        twinport_testkit::assert_cause_once(&e, &cause);
    }

    #[test]
    fn rustls_refusals_are_the_cause_not_the_message() {
        let refused = rustls::Error::General("no shared cipher".into());
        twinport_testkit::assert_cause_once(&TlsError::Rustls(refused), "no shared cipher");
        let verifier = TlsError::Verifier(rustls::server::VerifierBuilderError::NoRootAnchors);
        assert_eq!(verifier.to_string(), "cannot verify client certificates");
        twinport_testkit::assert_cause_once(&verifier, "no root trust anchors");
    }

    #[test]
    fn client_auth_modes_build() {
        let (cert, key) = pair();
        let roots = CaRoots::from_pem(cert.as_bytes()).unwrap();
        assert_eq!(roots.len(), 1);
        for auth in [
            ClientAuth::none(),
            ClientAuth::optional(roots.clone()),
            ClientAuth::required(roots),
        ] {
            let tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes())
                .unwrap()
                .client_auth(auth);
            tls.tcp_config().unwrap();
            tls.quic_config(&[b"x"]).unwrap();
        }
    }
}
