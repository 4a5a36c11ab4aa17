//! Certificates obtained and renewed from an ACME CA (RFC 8555), the `acme` feature.
//!
//! [`AcmeConfig::start`] gives an [`Acme`] whose [`Certificates`] serve TCP and QUIC alike
//! ([`Acme::server_tls`]); a task obtains the certificate, answers the CA's challenge, and
//! renews it well before it expires:
//!
//! - **TLS-ALPN-01** (the default, RFC 8737) is answered on the TLS port itself: a
//!   ClientHello offering only `acme-tls/1` gets the challenge certificate (the TCP ALPN list
//!   includes `acme-tls/1` for it), and the connection is closed after the handshake. The CA
//!   validates on port 443, so the TCP side must be reachable there.
//! - **HTTP-01** is answered by [`Acme::http01_service`] on port 80, which also redirects
//!   every other request to `https://`.
//! - **Renewal** runs in the window the CA suggests when its directory offers ACME Renewal
//!   Information (RFC 9773), else at two thirds of the certificate's lifetime. A failure is
//!   logged at warn and retried with exponential back-off (5 s, doubling, at most 1 hour by
//!   default); the certificate being served stays until a new one is installed, so a
//!   renewal that fails never leaves the server with nothing.
//! - **Cache**: the account's credentials and the certificate with its key live in the
//!   cache directory (files 0600, the directory 0700), so a restart serves at once and
//!   reuses the account.
//!
//! The client is [instant-acme](https://docs.rs/instant-acme); its HTTPS runs on twinport's
//! crypto provider (never rustls' process-wide default) and trusts the platform's roots, or
//! one CA given with [`ca_root`](AcmeConfig::ca_root) such as Pebble's.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use twinport::acme::{AcmeConfig, LETS_ENCRYPT};
//!
//! let acme = AcmeConfig::new(["example.com"], LETS_ENCRYPT, "/var/lib/myapp/acme")
//!     .contact("mailto:admin@example.com")
//!     .start()?;
//! let tls = acme.server_tls(); // for twinport-hyper's Http::tls and twinport-quinn's Http3
//! # let _ = tls;
//! # Ok(())
//! # }
//! ```

mod cache;
mod client;
mod http01;
mod order;
mod renew;
mod tls_alpn;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::tls::{default_crypto_provider, Certificates, ServerTls, TlsError};
use crate::BoxError;

pub use http01::{Http01Service, CHALLENGE_PATH};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Which challenge proves control of the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Challenge {
    /// TLS-ALPN-01 on the TLS port (the CA connects to port 443).
    #[default]
    TlsAlpn01,
    /// HTTP-01: serve [`Acme::http01_service`] on port 80.
    Http01,
}

impl Challenge {
    fn as_str(self) -> &'static str {
        match self {
            Self::TlsAlpn01 => "tls-alpn-01",
            Self::Http01 => "http-01",
        }
    }
}

/// Why an ACME step failed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum AcmeError {
    /// The CA, or the way to it, failed (unreachable, a problem document, a bad response).
    #[error("ACME: a request to the CA failed")]
    Acme(#[from] instant_acme::Error),
    /// A file of the cache could not be read or written.
    #[error("{path}: cannot read or write the ACME cache")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The cached account credentials could not be read.
    #[error("{path}: unreadable ACME account credentials")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A certificate could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A key or a challenge certificate could not be made.
    #[error("cannot make a key or challenge certificate")]
    Key(#[source] BoxError),
    /// The CA offered no challenge of the configured type.
    #[error("{name}: the CA offers no {challenge} challenge")]
    NoChallenge {
        /// The name being authorized.
        name: String,
        /// The challenge type.
        challenge: &'static str,
    },
    /// The CA refused the order; the problems it reported for each name.
    #[error("the CA refused the order ({status}): {problems}")]
    Refused {
        /// The order's or authorization's status.
        status: String,
        /// What the CA said, per name.
        problems: String,
    },
    /// The certificate obtained or cached has expired.
    #[error("the certificate has expired")]
    Expired,
    /// No names were given.
    #[error("ACME: no names to obtain a certificate for")]
    NoNames,
    /// A step took too long.
    #[error("ACME: no answer within {0:?}")]
    Timeout(Duration),
    /// The platform's CA roots, which the CA's HTTPS is checked against, could not be loaded.
    #[error("cannot load the platform's CA roots for the ACME directory's HTTPS (or give one with AcmeConfig::ca_root)")]
    PlatformRoots(#[source] std::io::Error),
    /// [`AcmeConfig::start`] was called outside a tokio runtime.
    #[error("AcmeConfig::start must be called inside a tokio runtime")]
    NoRuntime,
}

crate::error_chain::debug_as_chain!(AcmeError);

/// What to obtain, from where, and how; see the [module docs](self).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until it is started"]
pub struct AcmeConfig {
    names: Vec<String>,
    directory: String,
    cache_dir: PathBuf,
    contact: Vec<String>,
    challenge: Challenge,
    ca_root: Option<PathBuf>,
    https_port: u16,
    backoff: (Duration, Duration),
    provider: Option<Arc<CryptoProvider>>,
}

impl AcmeConfig {
    /// One certificate for `names` (host names; the first is its subject) from the CA whose
    /// directory is at `directory` (such as [`LETS_ENCRYPT`]), cached in `cache_dir`.
    pub fn new(
        names: impl IntoIterator<Item = impl Into<String>>,
        directory: impl Into<String>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            directory: directory.into(),
            cache_dir: cache_dir.into(),
            contact: Vec::new(),
            challenge: Challenge::default(),
            ca_root: None,
            https_port: 443,
            backoff: (Duration::from_secs(5), Duration::from_secs(3600)),
            provider: None,
        }
    }

    /// A contact URL for the account (`mailto:admin@example.com`).
    pub fn contact(mut self, url: impl Into<String>) -> Self {
        self.contact.push(url.into());
        self
    }

    /// The challenge to answer ([`Challenge::TlsAlpn01`] by default).
    pub fn challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// Trusts this CA certificate (PEM file) for the directory's HTTPS instead of the
    /// platform's roots: for a test CA such as Pebble, whose directory has a private one.
    pub fn ca_root(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.ca_root = Some(pem_file.into());
        self
    }

    /// Uses this crypto provider for the served certificates' keys, the handshakes and the
    /// client's HTTPS to the CA, instead of the [default](crate::tls::default_crypto_provider).
    /// The process-wide rustls default is never consulted.
    pub fn crypto_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The HTTPS port [`Acme::http01_service`] redirects to (443 by default).
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// The first wait after a failure and the longest (5 s and 1 hour by default); each
    /// failure in a row doubles the wait.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max.max(first));
        self
    }

    /// Checks the names, makes the cache directory, serves the cached certificate if it is
    /// still valid, and starts obtaining and renewing in a task of the current tokio
    /// runtime. Until a certificate is installed, handshakes are refused.
    pub fn start(self) -> Result<Acme, AcmeError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AcmeError::NoRuntime)?;
        if self.names.is_empty() {
            return Err(AcmeError::NoNames);
        }
        let names = crate::tls::normalize_names(&self.names)?;
        let provider = match &self.provider {
            Some(p) => p.clone(),
            None => default_crypto_provider()?,
        };
        let certs = Certificates::builder()
            .crypto_provider(provider.clone())
            .tls_alpn_01(self.challenge == Challenge::TlsAlpn01)
            .managed()
            .build()?;
        let cache = cache::Cache::new(&self.cache_dir, &self.directory, &names);
        cache.create_dir()?;
        let tokens = http01::Tokens::default();
        let renew_now = Arc::new(Notify::new());
        let https_port = self.https_port;
        let ctx = renew::Ctx {
            config: AcmeConfig { names, ..self },
            certs: certs.clone(),
            tokens: tokens.clone(),
            cache,
            provider,
            renew_now: renew_now.clone(),
        };
        let current = renew::start_with_cache(&ctx);
        let task = runtime.spawn(renew::run(ctx, current));
        Ok(Acme {
            certs,
            tokens,
            https_port,
            renew_now,
            task,
        })
    }
}

/// A running ACME client: its certificates, its HTTP-01 responder, and a way to force a
/// renewal. Dropping it stops obtaining and renewing (the certificates stay served).
#[derive(Debug)]
pub struct Acme {
    certs: Certificates,
    tokens: http01::Tokens,
    https_port: u16,
    renew_now: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Acme {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Acme {
    /// The certificates obtained (and the TLS-ALPN-01 challenge answers).
    pub fn certificates(&self) -> &Certificates {
        &self.certs
    }

    /// A [`ServerTls`] serving them, for TCP and QUIC.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::from_certificates(&self.certs)
    }

    /// The port-80 service: HTTP-01 answers and a redirect to `https://` for the rest.
    pub fn http01_service(&self) -> Http01Service {
        Http01Service::new(self.tokens.clone(), self.https_port)
    }

    /// Renews now instead of at the scheduled time (after a key compromise, say). The
    /// current certificate is served until the new one is installed.
    pub fn renew_now(&self) {
        self.renew_now.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_keep_the_cause() {
        let cache = AcmeError::Cache {
            path: PathBuf::from("acme/cert.pem"),
            source: std::io::Error::other("disk full"),
        };
        assert!(cache.to_string().starts_with("acme/cert.pem: "), "{cache}");
        twinport_testkit::errors::assert_cause_once(&cache, "disk full");

        let json = serde_json::from_str::<u8>("{").unwrap_err();
        let json_text = json.to_string();
        let credentials = AcmeError::Credentials {
            path: PathBuf::from("acme/account.json"),
            source: json,
        };
        twinport_testkit::errors::assert_cause_once(&credentials, &json_text);

        let acme = AcmeError::Acme(instant_acme::Error::Other("the CA is down".into()));
        twinport_testkit::errors::assert_cause_once(&acme, "the CA is down");

        let key = AcmeError::Key(rcgen::Error::CouldNotParseKeyPair.into());
        assert_eq!(
            key.to_string(),
            "cannot make a key or challenge certificate"
        );
        twinport_testkit::errors::assert_typed_cause::<rcgen::Error>(&key);
    }
}
