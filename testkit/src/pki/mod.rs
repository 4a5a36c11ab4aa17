//! One test PKI, made once per test process with rcgen: a CA, a server certificate for
//! `localhost` / `127.0.0.1`, a good client certificate, and the bad ones (expired, from a
//! foreign CA, without the clientAuth extended key usage). PEM files for peers that want
//! paths are written on demand into a [`TempDir`]. Beside it, [`OpensslCa`]: a client CA run
//! with `openssl ca`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use twinport::{CaRoots, ClientAuth, ServerTls};
use twinport_quinn::quinn;

use crate::fs::TempDir;

mod openssl_ca;

pub use openssl_ca::OpensslCa;

/// The name of the test CA, as it appears in a client certificate's issuer.
pub const CA_NAME: &str = "twinport test CA";

/// A certificate chain (leaf, then its CA) and its key.
pub struct Id {
    /// The leaf and its issuer, DER.
    pub chain: Vec<CertificateDer<'static>>,
    /// The PKCS#8 key, DER.
    pub key_der: Vec<u8>,
    /// The leaf and its issuer, PEM.
    pub chain_pem: String,
    /// The PKCS#8 key, PEM.
    pub key_pem: String,
}

impl Id {
    /// The private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn leaf(&self, cn: &str, sans: Vec<SanType>, eku: ExtendedKeyUsagePurpose) -> Leaf<'_> {
        Leaf {
            ca: self,
            cn: cn.to_owned(),
            sans,
            eku,
            expired: false,
            serial: None,
        }
    }
}

/// A leaf certificate about to be signed.
struct Leaf<'a> {
    ca: &'a Ca,
    cn: String,
    sans: Vec<SanType>,
    eku: ExtendedKeyUsagePurpose,
    expired: bool,
    serial: Option<Vec<u8>>,
}

impl Leaf<'_> {
    fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    fn sign(self) -> Id {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, &self.cn);
        params.subject_alt_names = self.sans;
        params.extended_key_usages = vec![self.eku];
        params.serial_number = self.serial.map(|s| rcgen::SerialNumber::from_slice(&s));
        if self.expired {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2002, 1, 1);
        }
        let cert = params.signed_by(&key, &self.ca.cert, &self.ca.key).unwrap();
        Id {
            chain: vec![cert.der().clone(), self.ca.cert.der().clone()],
            key_der: key.serialize_der(),
            chain_pem: format!("{}{}", cert.pem(), self.ca.cert.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

fn dns(name: &str) -> SanType {
    SanType::DnsName(name.try_into().unwrap())
}

fn localhost() -> Vec<SanType> {
    vec![
        dns("localhost"),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ]
}

/// The test CA and its certificates; see the [module docs](self).
pub struct Pki {
    ca: Ca,
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    /// `localhost` and `127.0.0.1`, serverAuth.
    pub server: Id,
    /// The good client: CN `alice`, DNS `alice.example`, URI `spiffe://example.org/alice`,
    /// email `alice@example.org`.
    pub client: Id,
    /// A client certificate of the test CA that expired in 2002.
    pub expired: Id,
    /// A client certificate (CN `mallory`) from a CA the server does not trust.
    pub foreign: Id,
    /// A certificate of the test CA with serverAuth only, offered as a client certificate.
    pub no_client_eku: Id,
}

impl Pki {
    /// The PKI of this test process, made on first use.
    pub fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(|| {
            use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
            let ca = Ca::new(CA_NAME);
            let other = Ca::new("some other CA");
            let alice = vec![
                dns("alice.example"),
                SanType::URI("spiffe://example.org/alice".try_into().unwrap()),
                SanType::Rfc822Name("alice@example.org".try_into().unwrap()),
            ];
            Pki {
                ca_der: ca.cert.der().clone(),
                ca_pem: ca.cert.pem(),
                server: ca.leaf("localhost", localhost(), ServerAuth).sign(),
                client: ca.leaf("alice", alice, ClientAuth).sign(),
                expired: ca
                    .leaf("expired-client", localhost(), ClientAuth)
                    .expired()
                    .sign(),
                foreign: other
                    .leaf("mallory", vec![dns("mallory.example")], ClientAuth)
                    .sign(),
                no_client_eku: ca
                    .leaf("server-only-client", localhost(), ServerAuth)
                    .sign(),
                ca,
            }
        })
    }

    /// A server certificate of the test CA with common name `cn`, these names (DNS names,
    /// `*.` wildcards, or IP addresses) and this serial number (big-endian bytes; give a
    /// first byte below 0x80 so that [`crate::clients::serial_hex`] prints it as given).
    pub fn issue_server(&self, cn: &str, names: &[&str], serial: &[u8]) -> Id {
        let sans = names
            .iter()
            .map(|n| match n.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => dns(n),
            })
            .collect();
        let mut leaf = self.ca.leaf(cn, sans, ExtendedKeyUsagePurpose::ServerAuth);
        leaf.serial = Some(serial.to_vec());
        leaf.sign()
    }

    /// The test CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The test CA as the roots a server trusts for client certificates.
    pub fn roots(&self) -> CaRoots {
        CaRoots::from_pem(self.ca_pem.as_bytes()).unwrap()
    }

    /// The test CA as a rustls root store, for clients built by hand.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        roots
    }

    /// The server certificate, without client authentication.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_pem(
            self.server.chain_pem.as_bytes(),
            self.server.key_pem.as_bytes(),
        )
        .unwrap()
    }

    /// The server certificate with client authentication `mtls` against the test CA.
    pub fn server_tls_with(&self, mtls: Mtls) -> ServerTls {
        let tls = self.server_tls();
        match mtls {
            Mtls::Off => tls,
            Mtls::Optional => tls.client_auth(ClientAuth::Optional(self.roots())),
            Mtls::Required => tls.client_auth(ClientAuth::Required(self.roots())),
        }
    }

    /// A rustls client configuration trusting the test CA, offering `alpn`, presenting `id`.
    pub fn client_tls(&self, alpn: &[&[u8]], id: Option<&Id>) -> rustls::ClientConfig {
        let provider = twinport::tls::default_crypto_provider().unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.root_store());
        let mut tls = match id {
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        tls
    }

    /// A quinn client configuration for HTTP/3 (ALPN `h3`).
    pub fn quic_client(&self, id: Option<&Id>) -> quinn::ClientConfig {
        self.quic_client_alpn(&[b"h3"], id)
    }

    /// A quinn client configuration offering `alpn`, with a 20 s idle timeout.
    pub fn quic_client_alpn(&self, alpn: &[&[u8]], id: Option<&Id>) -> quinn::ClientConfig {
        let tls = self.client_tls(alpn, id);
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_idle_timeout(Some(Duration::from_secs(20).try_into().unwrap()));
        config.transport_config(Arc::new(transport));
        config
    }

    /// The SHA-256 of the server certificate's key (SPKI), base64: what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub fn server_spki(&self) -> String {
        twinport::dev_certs::spki_sha256_base64(&self.server.chain[0]).unwrap()
    }

    /// Writes the CA and every identity as PEM files into a fresh directory, removed when
    /// the returned [`PemFiles`] is dropped.
    pub fn write_files(&self) -> PemFiles {
        let dir = TempDir::new("pki");
        std::fs::write(dir.path("ca.pem"), &self.ca_pem).unwrap();
        for (name, id) in [
            ("server", &self.server),
            ("client", &self.client),
            ("expired", &self.expired),
            ("foreign", &self.foreign),
            ("no-client-eku", &self.no_client_eku),
        ] {
            std::fs::write(dir.path(&format!("{name}.pem")), &id.chain_pem).unwrap();
            std::fs::write(dir.path(&format!("{name}.key")), &id.key_pem).unwrap();
        }
        PemFiles { dir }
    }
}

/// The PKI as files: `ca.pem`, and `NAME.pem` / `NAME.key` for `server`, `client`,
/// `expired`, `foreign` and `no-client-eku`.
pub struct PemFiles {
    dir: TempDir,
}

impl PemFiles {
    /// The path of `name` (such as `"ca.pem"`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path(name)
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// `--cert FILE --key FILE` for the identity `name`, as most command-line peers take it.
    pub fn cert_args(&self, name: &str) -> [String; 4] {
        [
            "--cert".into(),
            self.path(&format!("{name}.pem")).display().to_string(),
            "--key".into(),
            self.path(&format!("{name}.key")).display().to_string(),
        ]
    }
}

/// Client authentication of a test server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mtls {
    /// No client certificates asked for.
    Off,
    /// A certificate of the test CA is read if offered.
    Optional,
    /// A certificate of the test CA is required.
    Required,
}
