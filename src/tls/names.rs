//! Host names as certificates are registered for and looked up by: exact names and `*.`
//! wildcards (one label, RFC 6125 §6.4.3), compared in lower case without a trailing dot.

use rustls_pki_types::{CertificateDer, DnsName};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{PemSource, TlsError};
use crate::BoxError;

/// `name` as stored: lower case, no trailing dot; an error says what is wrong with it.
pub(super) fn normalize(name: &str) -> Result<String, TlsError> {
    let invalid = |reason| TlsError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    let lower = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let host = lower.strip_prefix("*.").unwrap_or(&lower);
    if host.is_empty() {
        return Err(invalid("empty"));
    }
    if host.contains('*') {
        return Err(invalid("'*' may only be the whole first label"));
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Err(invalid(
            "an IP address (clients send no SNI for one: use the default certificate)",
        ));
    }
    if DnsName::try_from(host).is_err() {
        return Err(invalid("not a valid DNS name"));
    }
    Ok(lower)
}

/// The key a server name falls back to after its exact form: `*.example.com` for
/// `www.example.com`.
pub(super) fn wildcard_of(name: &str) -> Option<String> {
    let (_, parent) = name.split_once('.')?;
    (!parent.is_empty()).then(|| format!("*.{parent}"))
}

/// Whether a certificate with these DNS names (normalized) is valid for `name` (normalized):
/// the same name, or a wildcard one label above it. A wildcard name needs the same wildcard.
pub(super) fn covers(sans: &[String], name: &str) -> bool {
    sans.iter().any(|san| san == name) || wildcard_of(name).is_some_and(|w| sans.contains(&w))
}

/// The DNS names in the leaf certificate's subjectAltName extension, normalized.
pub(super) fn dns_names(
    leaf: &CertificateDer<'_>,
    src: &PemSource,
) -> Result<Vec<String>, TlsError> {
    let bad = |source: BoxError| TlsError::BadCertificate {
        source_name: src.clone(),
        source,
    };
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| bad(e.into()))?;
    let san = cert.subject_alternative_name().map_err(|e| bad(e.into()))?;
    let mut names = Vec::new();
    for general in san.iter().flat_map(|s| s.value.general_names.iter()) {
        if let GeneralName::DNSName(dns) = general {
            let dns = dns.strip_suffix('.').unwrap_or(dns);
            names.push(dns.to_ascii_lowercase());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap()
    }

    #[test]
    fn names_are_normalized_or_refused_with_a_reason() {
        assert_eq!(n("WWW.Example.COM."), "www.example.com");
        assert_eq!(n("*.Example.com"), "*.example.com");
        for (bad, why) in [
            ("", "empty"),
            ("*.", "first label"),
            ("*..", "empty"),
            ("a.*.example.com", "first label"),
            ("w*.example.com", "first label"),
            ("127.0.0.1", "IP address"),
            ("exa mple.com", "valid DNS"),
        ] {
            let e = normalize(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn wildcards_cover_one_label() {
        let sans = vec!["*.example.com".to_owned(), "example.org".to_owned()];
        assert!(covers(&sans, "www.example.com"));
        assert!(covers(&sans, "*.example.com"));
        assert!(covers(&sans, "example.org"));
        assert!(!covers(&sans, "example.com"));
        assert!(!covers(&sans, "a.b.example.com"));
        assert!(!covers(&sans, "www.example.org"));
        assert!(!covers(&sans, "*.example.org"));
        assert_eq!(wildcard_of("a.b.c").as_deref(), Some("*.b.c"));
        assert_eq!(wildcard_of("localhost"), None);
    }
}
