//! Several certificates chosen by SNI (exact names, `*.` wildcards, a default), one source
//! for TCP and QUIC: what curl (HTTP/1.1, HTTP/2), aioquic and h3 (HTTP/3) see for each name,
//! and the errors of a set of certificates that cannot be built.
#![allow(clippy::unwrap_used)]

use twinport::{Certificates, ServerTls, TlsError};
use twinport_testkit::clients::{Proto, TCP};
use twinport_testkit::peers::{aioquic_seen, curl_seen, h3_seen, python, require, CurlAsk};
use twinport_testkit::servers::Both;
use twinport_testkit::{Pki, TempDir};

/// Three certificates of the test CA with serials of their own, as files.
struct Set {
    dir: TempDir,
}

const EXACT: &str = "1001"; // a.test, b.test
const WILD: &str = "1002"; // *.wild.test
const DEFAULT: &str = "1003"; // localhost, 127.0.0.1

impl Set {
    fn new() -> Self {
        let pki = Pki::get();
        let dir = TempDir::new("certs-sni");
        std::fs::write(dir.path("ca.pem"), pki.ca_pem()).unwrap();
        for (name, cn, sans, serial) in [
            ("exact", "exact", &["a.test", "b.test"][..], [0x10, 0x01]),
            ("wild", "wild", &["*.wild.test"][..], [0x10, 0x02]),
            (
                "default",
                "default",
                &["localhost", "127.0.0.1"][..],
                [0x10, 0x03],
            ),
        ] {
            let id = pki.issue_server(cn, sans, &serial);
            std::fs::write(dir.path(&format!("{name}.pem")), &id.chain_pem).unwrap();
            std::fs::write(dir.path(&format!("{name}.key")), &id.key_pem).unwrap();
        }
        Self { dir }
    }

    fn pem(&self, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        (
            self.dir.path(&format!("{name}.pem")),
            self.dir.path(&format!("{name}.key")),
        )
    }
}

#[tokio::test]
async fn sni_chooses_the_certificate_on_h1_h2_and_h3() {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    let set = Set::new();
    let ((ec, ek), (wc, wk), (dc, dk)) = (set.pem("exact"), set.pem("wild"), set.pem("default"));
    let certs = Certificates::builder()
        .pem_files(&ec, &ek)
        .pem_files_for(["*.wild.test"], &wc, &wk)
        .default_pem_files(&dc, &dk)
        .build()
        .unwrap();
    let both = Both::serve(&ServerTls::from_certificates(&certs)).await;
    let ca = set.dir.path("ca.pem");

    for (name, serial) in [
        (Some("a.test"), EXACT),
        (Some("B.Test"), EXACT),
        (Some("x.wild.test"), WILD),
        (None, DEFAULT),
    ] {
        for (proto, version) in [(Proto::H1, "1.1"), (Proto::H2, "2")] {
            let ask = CurlAsk {
                proto,
                name,
                ..CurlAsk::default()
            };
            let seen = curl_seen(&curl, both.addr, &ca, ask).await.unwrap();
            assert_eq!(
                (seen.status, seen.version.as_str(), seen.serial.as_str()),
                (200, version, serial),
                "{name:?}"
            );
        }
        let Some(name) = name else { continue };
        let seen = h3_seen(both.addr, name).await.unwrap();
        assert_eq!(
            (seen.status, seen.serial.as_str()),
            (200, serial),
            "h3 {name}"
        );
        let seen = aioquic_seen(&python, both.addr, name, &ca, "/info")
            .await
            .unwrap();
        assert_eq!(
            (seen.status, seen.serial.as_str()),
            (200, serial),
            "aioquic {name}"
        );
    }
    // A name nothing is registered for gets the default (which the client then refuses to
    // trust for that name, as it should); two labels below a wildcard is not covered by it.
    for name in ["unknown.test", "a.b.wild.test"] {
        for proto in TCP {
            let ask = CurlAsk {
                proto,
                name: Some(name),
                ..CurlAsk::default()
            };
            let insecure = CurlAsk {
                insecure: true,
                ..ask
            };
            let seen = curl_seen(&curl, both.addr, &ca, insecure).await.unwrap();
            assert_eq!(seen.serial, DEFAULT, "{name}");
            let err = curl_seen(&curl, both.addr, &ca, ask).await.unwrap_err();
            assert!(err.contains("certificate"), "{err}");
        }
        let err = h3_seen(both.addr, name).await.unwrap_err();
        assert!(
            err.contains("certificate") || err.contains("Certificate"),
            "{err}"
        );
    }
    both.stop().await;
}

#[tokio::test]
async fn without_a_default_unknown_names_are_refused_on_both_transports() {
    let Some(curl) = require("curl") else { return };
    let set = Set::new();
    let (ec, ek) = set.pem("exact");
    let certs = Certificates::builder().pem_files(&ec, &ek).build().unwrap();
    let both = Both::serve(&ServerTls::from_certificates(&certs)).await;
    let ca = set.dir.path("ca.pem");

    let h2 = CurlAsk {
        proto: Proto::H2,
        ..CurlAsk::default()
    };
    let ask = CurlAsk {
        name: Some("a.test"),
        ..h2
    };
    let seen = curl_seen(&curl, both.addr, &ca, ask).await.unwrap();
    assert_eq!(seen.serial, EXACT);
    for name in [Some("unknown.test"), None] {
        let ask = CurlAsk {
            name,
            insecure: true,
            ..h2
        };
        let err = curl_seen(&curl, both.addr, &ca, ask).await.unwrap_err();
        assert!(
            err.contains("alert") || err.contains("SSL"),
            "{name:?}: {err}"
        );
    }
    assert_eq!(h3_seen(both.addr, "a.test").await.unwrap().serial, EXACT);
    let err = h3_seen(both.addr, "unknown.test").await.unwrap_err();
    assert!(err.contains("QUIC handshake"), "{err}");
    both.stop().await;
}

#[test]
fn a_set_that_cannot_be_served_is_refused_when_built_naming_the_file() {
    let set = Set::new();
    let ((ec, ek), (wc, wk), (dc, dk)) = (set.pem("exact"), set.pem("wild"), set.pem("default"));
    let err = |b: twinport::tls::CertificatesBuilder| b.build().unwrap_err();

    // Registered for a name the certificate does not cover: exact, or below its wildcard.
    for name in ["c.test", "wild.test", "a.b.wild.test", "*.test"] {
        let e = err(Certificates::builder().pem_files_for([name], &wc, &wk));
        assert!(matches!(e, TlsError::NameNotCovered { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("wild.pem") && msg.contains(name) && msg.contains("*.wild.test"),
            "{msg}"
        );
    }
    // A wildcard certificate covers one label below it.
    Certificates::builder()
        .pem_files_for(["x.wild.test", "*.wild.test"], &wc, &wk)
        .build()
        .unwrap();

    let e = err(Certificates::builder()
        .pem_files(&ec, &ek)
        .pem_files_for(["a.test"], &dc, &dk));
    assert!(matches!(e, TlsError::NameNotCovered { .. }), "{e}");
    let e = err(Certificates::builder()
        .pem_files(&ec, &ek)
        .pem_files_for(["b.test"], &ec, &ek));
    assert!(matches!(e, TlsError::DuplicateName { .. }), "{e}");
    assert!(
        e.to_string().contains("\"b.test\" is registered twice"),
        "{e}"
    );
    let e = err(Certificates::builder()
        .default_pem_files(&dc, &dk)
        .default_pem_files(&ec, &ek));
    assert!(matches!(e, TlsError::DuplicateDefault { .. }), "{e}");
    let e = err(Certificates::builder().pem_files_for(["not a name"], &ec, &ek));
    assert!(matches!(e, TlsError::InvalidName { .. }), "{e}");
    let e = err(Certificates::builder());
    assert!(matches!(e, TlsError::NoCertificates), "{e}");

    // The existing PEM errors, each naming its file.
    let missing = set.dir.path("missing.pem");
    let e = err(Certificates::builder().pem_files(&missing, &ek));
    assert!(
        matches!(e, TlsError::NotFound(..)) && e.to_string().contains("missing.pem"),
        "{e}"
    );
    let e = err(Certificates::builder().pem_files(&ec, &wk));
    assert!(
        matches!(e, TlsError::KeyMismatch { .. }) && e.to_string().contains("wild.key"),
        "{e}"
    );
    let e = err(Certificates::builder().pem_files(&ek, &ek));
    assert!(
        matches!(e, TlsError::NoCertificate(_)) && e.to_string().contains("exact.key"),
        "{e}"
    );

    // An IP-only certificate has no DNS names to be chosen by, but can be the default.
    let ip = Pki::get().issue_server("ip", &["127.0.0.1"], &[0x10, 0x09]);
    let e = Certificates::builder()
        .pem(ip.chain_pem.as_bytes(), ip.key_pem.as_bytes())
        .build()
        .unwrap_err();
    assert!(matches!(e, TlsError::NoDnsNames(_)), "{e}");
    Certificates::builder()
        .default_pem(ip.chain_pem.as_bytes(), ip.key_pem.as_bytes())
        .build()
        .unwrap();
}
