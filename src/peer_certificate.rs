//! [`PeerCertificate`]: the client's verified certificate chain, with the leaf parsed.
//!
//! The leaf is parsed once, when the connection's
//! [`ConnectionInfo`](crate::ConnectionInfo) is built, never per request.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use twinport::connection_info::PeerCertificate;
//!
//! let cert = rcgen::generate_simple_self_signed(vec!["client.example".to_string()])?;
//! let peer = PeerCertificate::from_chain(vec![cert.cert.der().clone()])?;
//! assert!(peer.dns_names().any(|n| n == "client.example"));
//! assert_eq!(peer.fingerprint_sha256_hex().len(), 64);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// A certificate chain that could not be parsed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The chain was empty.
    #[error("the certificate chain is empty")]
    EmptyChain,
    /// The leaf certificate is not valid X.509 DER.
    #[error("the leaf certificate is not valid X.509")]
    Parse(#[source] crate::BoxError),
}

crate::error_chain::debug_as_chain!(CertificateError);

/// A subject alternative name of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// An email address (rfc822Name).
    Email(String),
    /// A URI, such as a SPIFFE id.
    Uri(String),
}

/// The client's verified certificate chain, with the leaf parsed.
///
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct PeerCertificate {
    inner: Arc<PeerInner>,
}

struct PeerInner {
    chain: Vec<CertificateDer<'static>>,
    common_name: Option<String>,
    subject: String,
    issuer: String,
    serial: String,
    not_before: SystemTime,
    not_after: SystemTime,
    sans: Vec<SubjectAltName>,
    fingerprint: [u8; 32],
}

fn to_system_time(ts: i64) -> SystemTime {
    if ts >= 0 {
        UNIX_EPOCH + Duration::from_secs(ts.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(ts.unsigned_abs())
    }
}

impl PeerCertificate {
    /// Parses the leaf (the first certificate) of a chain that TLS has already verified.
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Result<Self, CertificateError> {
        let leaf = chain.first().ok_or(CertificateError::EmptyChain)?;
        let (_, cert) = X509Certificate::from_der(leaf.as_ref())
            .map_err(|e| CertificateError::Parse(e.into()))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(n) => sans.push(SubjectAltName::Dns((*n).to_owned())),
                    GeneralName::RFC822Name(n) => sans.push(SubjectAltName::Email((*n).to_owned())),
                    GeneralName::URI(n) => sans.push(SubjectAltName::Uri((*n).to_owned())),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                            sans.push(SubjectAltName::Ip(IpAddr::from(b)));
                        } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                            sans.push(SubjectAltName::Ip(IpAddr::from(b)));
                        }
                    }
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        let inner = PeerInner {
            common_name,
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: to_system_time(validity.not_before.timestamp()),
            not_after: to_system_time(validity.not_after.timestamp()),
            sans,
            fingerprint: Sha256::digest(leaf.as_ref()).into(),
            chain,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The verified chain, leaf first, as DER.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.inner.chain
    }

    /// The leaf certificate, as DER.
    pub fn leaf_der(&self) -> &CertificateDer<'static> {
        // from_chain refuses an empty chain.
        &self.inner.chain[0]
    }

    /// The subject's common name (CN), if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.inner.common_name.as_deref()
    }

    /// The subject, as an RFC 4514 string.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The issuer, as an RFC 4514 string.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The serial number as colon-separated hex bytes.
    pub fn serial(&self) -> &str {
        &self.inner.serial
    }

    /// The start of the validity window.
    pub fn not_before(&self) -> SystemTime {
        self.inner.not_before
    }

    /// The end of the validity window.
    pub fn not_after(&self) -> SystemTime {
        self.inner.not_after
    }

    /// Every subject alternative name, in certificate order.
    pub fn subject_alt_names(&self) -> &[SubjectAltName] {
        &self.inner.sans
    }

    /// The DNS names among the SANs.
    pub fn dns_names(&self) -> impl Iterator<Item = &str> {
        self.inner.sans.iter().filter_map(|s| match s {
            SubjectAltName::Dns(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The email addresses among the SANs.
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.inner.sans.iter().filter_map(|s| match s {
            SubjectAltName::Email(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The URIs among the SANs.
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.inner.sans.iter().filter_map(|s| match s {
            SubjectAltName::Uri(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The IP addresses among the SANs.
    pub fn ip_addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.inner.sans.iter().filter_map(|s| match s {
            SubjectAltName::Ip(ip) => Some(*ip),
            _ => None,
        })
    }

    /// The first URI SAN with the `spiffe://` scheme: a SPIFFE workload id.
    pub fn spiffe_id(&self) -> Option<&str> {
        self.uris().find(|u| u.starts_with("spiffe://"))
    }

    /// The SHA-256 digest of the leaf's DER encoding.
    pub fn fingerprint_sha256(&self) -> &[u8; 32] {
        &self.inner.fingerprint
    }

    /// [`fingerprint_sha256`](Self::fingerprint_sha256) as lowercase hex, as `sha256sum` prints it.
    pub fn fingerprint_sha256_hex(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        for b in self.inner.fingerprint {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCertificate")
            .field("common_name", &self.common_name())
            .field("issuer", &self.issuer())
            .field("serial", &self.serial())
            .field("sans", &self.subject_alt_names())
            .field("sha256", &self.fingerprint_sha256_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "serde")]
mod ser {
    use super::*;
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    fn unix(t: SystemTime) -> i64 {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        }
    }

    impl Serialize for SubjectAltName {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (kind, value) = match self {
                Self::Dns(v) => ("dns", v.clone()),
                Self::Ip(v) => ("ip", v.to_string()),
                Self::Email(v) => ("email", v.clone()),
                Self::Uri(v) => ("uri", v.clone()),
            };
            let mut st = s.serialize_struct("SubjectAltName", 2)?;
            st.serialize_field("type", kind)?;
            st.serialize_field("value", &value)?;
            st.end()
        }
    }

    impl Serialize for PeerCertificate {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("PeerCertificate", 8)?;
            st.serialize_field("common_name", &self.common_name())?;
            st.serialize_field("subject", self.subject())?;
            st.serialize_field("issuer", self.issuer())?;
            st.serialize_field("serial", self.serial())?;
            st.serialize_field("not_before", &unix(self.not_before()))?;
            st.serialize_field("not_after", &unix(self.not_after()))?;
            st.serialize_field("sans", self.subject_alt_names())?;
            st.serialize_field("sha256", &self.fingerprint_sha256_hex())?;
            st.end()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn ca() -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "twinport test CA");
        (params.self_signed(&key).unwrap(), key)
    }

    #[test]
    fn parses_every_san_kind_from_a_ca_signed_chain() {
        let (ca, ca_key) = ca();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["svc.example".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "alice");
        params
            .subject_alt_names
            .push(SanType::IpAddress("10.1.2.3".parse().unwrap()));
        params
            .subject_alt_names
            .push(SanType::IpAddress("::1".parse().unwrap()));
        params
            .subject_alt_names
            .push(SanType::Rfc822Name("alice@example.com".try_into().unwrap()));
        params.subject_alt_names.push(SanType::URI(
            "spiffe://example.org/ns/prod/sa/alice".try_into().unwrap(),
        ));
        params.serial_number = Some(vec![0x01, 0x02, 0xab].into());
        let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();

        let peer = PeerCertificate::from_chain(vec![leaf.der().clone(), ca.der().clone()]).unwrap();
        assert_eq!(peer.common_name(), Some("alice"));
        assert_eq!(peer.dns_names().collect::<Vec<_>>(), ["svc.example"]);
        assert_eq!(
            peer.ip_addrs().collect::<Vec<_>>(),
            [
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert_eq!(peer.emails().collect::<Vec<_>>(), ["alice@example.com"]);
        assert_eq!(
            peer.spiffe_id(),
            Some("spiffe://example.org/ns/prod/sa/alice")
        );
        assert!(
            peer.issuer().contains("twinport test CA"),
            "{}",
            peer.issuer()
        );
        assert_eq!(peer.serial(), "01:02:ab");
        assert!(peer.not_before() < peer.not_after());
        assert_eq!(peer.chain().len(), 2);
    }

    #[test]
    fn fingerprint_matches_sha256sum_of_the_der() {
        let cert = rcgen::generate_simple_self_signed(vec!["x.example".into()]).unwrap();
        let der = cert.cert.der().clone();
        let dir = std::env::temp_dir().join(format!("twinport-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("leaf.der");
        std::fs::write(&path, der.as_ref()).unwrap();
        let peer = PeerCertificate::from_chain(vec![der]).unwrap();
        match std::process::Command::new("sha256sum").arg(&path).output() {
            Ok(out) => {
                let printed = String::from_utf8_lossy(&out.stdout);
                let hex = printed.split_whitespace().next().unwrap_or_default();
                assert_eq!(hex, peer.fingerprint_sha256_hex());
            }
            Err(e) => eprintln!("skipping the sha256sum comparison: {e}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn garbage_is_a_parse_error_and_empty_is_refused() {
        assert!(matches!(
            PeerCertificate::from_chain(vec![]),
            Err(CertificateError::EmptyChain)
        ));
        let garbage = PeerCertificate::from_chain(vec![CertificateDer::from(vec![1u8, 2, 3])]);
        assert!(
            matches!(garbage, Err(CertificateError::Parse(_))),
            "{garbage:?}"
        );
        if let Err(e) = garbage {
            assert_eq!(e.to_string(), "the leaf certificate is not valid X.509");
            let cause = std::error::Error::source(&e).unwrap().to_string();
            twinport_testkit::errors::assert_cause_once(&e, &cause);
        }
    }
}
