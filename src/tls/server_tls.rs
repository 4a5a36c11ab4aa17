//! [`ServerTls`]: the certificates, client authentication and crypto provider every
//! transport makes its rustls configuration from.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ProducesTickets, ResolvesServerCert, ServerConfig, StoresServerSessions};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::client_verifier::ClientVerifier;
use super::pem::{parse_certs, parse_key, read_file};
use super::source::CertSource;
use super::{default_crypto_provider, Certificates, ClientAuth, PemSource, TlsError};

/// A server certificate, its key, client authentication and the crypto provider: everything
/// to make the rustls configuration of every transport. See the [module docs](crate::tls).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is used"]
pub struct ServerTls {
    certs: CertSource,
    client_auth: ClientAuth,
    provider: Arc<CryptoProvider>,
    early_data: bool,
    /// Session tickets of a fleet key ([`Self::fleet_key`]).
    tickets: Option<Arc<dyn ProducesTickets>>,
    /// A session store shared by the fleet ([`Self::session_store`]).
    session_store: Option<Arc<dyn StoresServerSessions>>,
}

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A certificate chain and its key, checked to belong together.
pub(super) fn certified_key(
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
            tickets: None,
            session_store: None,
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
    /// verifier, protocol versions, provider, session storage and ticketer are yours
    /// ([`client_auth`](Self::client_auth), [`crypto_provider`](Self::crypto_provider),
    /// [`fleet_key`](Self::fleet_key) and [`session_store`](Self::session_store) do not change
    /// them; set a [`FleetTickets`](crate::fleet::FleetTickets) as its `ticketer` yourself).
    /// QUIC needs it to allow TLS 1.3 with a cipher suite QUIC can use.
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
    ///
    /// 0-RTT needs stateful resumption: the session is taken from a store when it is resumed,
    /// so the same ticket cannot bring early data twice. That is the default, rustls'
    /// in-process cache (a client resumes, with early data, on the instance it came from), or
    /// a [`session_store`](Self::session_store) shared by the fleet. With a
    /// [`fleet_key`](Self::fleet_key) and no store, tickets are stateless and 0-RTT stays off
    /// (a warning says so when the QUIC configuration is made): recorded early data could be
    /// replayed on another instance.
    pub fn early_data(mut self, enabled: bool) -> Self {
        self.early_data = enabled;
        self
    }

    /// Issues TLS session tickets (TLS 1.3 and 1.2, on TCP and QUIC) that every instance with
    /// the same `key` decrypts ([`FleetTickets`](crate::fleet::FleetTickets)), so a client
    /// resumes its session on whichever instance of the fleet it reaches. Without it, each
    /// instance keeps its sessions in memory and only it resumes them.
    ///
    /// Stateless tickets allow no 0-RTT: with a fleet key, QUIC early data is off even with
    /// [`early_data(true)`](Self::early_data), unless a shared
    /// [`session_store`](Self::session_store) is set too (which then takes the place of the
    /// tickets). Not used with [`from_server_config`](Self::from_server_config).
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    pub fn fleet_key(mut self, key: &crate::fleet::FleetKey) -> Self {
        self.tickets = Some(Arc::new(crate::fleet::FleetTickets::new(key)));
        self
    }

    /// Keeps resumable sessions in `store` instead of rustls' in-process cache: stateful
    /// resumption, with tickets that are only the sessions' ids. A store shared by the fleet
    /// (a database, a cache server) lets a client resume on any instance, and, with
    /// [`early_data(true)`](Self::early_data), send 0-RTT data to any instance.
    ///
    /// The store's [`take`](StoresServerSessions::take) must remove the session atomically
    /// across the fleet (at most one `take` of a ticket returns it): that is what refuses a
    /// replayed 0-RTT ticket. With a store, a [`fleet_key`](Self::fleet_key)'s tickets are not
    /// issued. Not used with [`from_server_config`](Self::from_server_config).
    pub fn session_store(mut self, store: Arc<dyn StoresServerSessions>) -> Self {
        self.session_store = Some(store);
        self
    }

    /// Whether sessions are resumed from stateless tickets (a fleet key without a session
    /// store), which allow no 0-RTT.
    fn stateless_tickets(&self) -> bool {
        self.tickets.is_some()
            && self.session_store.is_none()
            && !matches!(self.certs, CertSource::Config(_))
    }

    /// Whether the QUIC configuration accepts 0-RTT: [`early_data(true)`](Self::early_data),
    /// and not turned off by a [`fleet_key`](Self::fleet_key) without a
    /// [`session_store`](Self::session_store).
    pub fn early_data_enabled(&self) -> bool {
        self.early_data && !self.stateless_tickets()
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
        if let Some(store) = &self.session_store {
            config.session_storage = store.clone();
        } else if let Some(tickets) = &self.tickets {
            config.ticketer = tickets.clone();
        }
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
        // rustls accepts early data only with stateful resumption (RFC 8446 §8.1), and warns
        // at every ticket it issues otherwise: say it once, here.
        let early_data = self.early_data_enabled();
        if self.early_data && !early_data {
            tracing::warn!(
                "QUIC 0-RTT is off: with a fleet key and no shared session store, session \
                 tickets are stateless and early data could be replayed on another instance"
            );
        }
        // QUIC requires this to be 0 or u32::MAX (RFC 9001 §4.6.1).
        config.max_early_data_size = if early_data { u32::MAX } else { 0 };
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::tls::CaRoots;

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
        twinport_testkit::errors::assert_cause_once(&e, &os);

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
        twinport_testkit::errors::assert_typed_cause::<rustls_pki_types::pem::Error>(&e);

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
        twinport_testkit::errors::assert_typed_cause::<rustls::Error>(&e);
    }

    #[test]
    fn client_auth_modes_build() {
        let (cert, key) = pair();
        let roots = CaRoots::from_pem(cert.as_bytes()).unwrap();
        assert_eq!(roots.len(), 1);
        for auth in [
            ClientAuth::None,
            ClientAuth::Optional(roots.clone()),
            ClientAuth::Required(roots),
        ] {
            let tls = ServerTls::from_pem(cert.as_bytes(), key.as_bytes())
                .unwrap()
                .client_auth(auth);
            tls.tcp_config().unwrap();
            tls.quic_config(&[b"x"]).unwrap();
        }
    }
}
