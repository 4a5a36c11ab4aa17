//! ACME end to end against Pebble (Let's Encrypt's test CA, Debian's `pebble`) with
//! pebble-challtestsrv as DNS: a certificate obtained by TLS-ALPN-01 (answered on the TLS
//! port) and one by HTTP-01 (the port-80 service), each served on HTTP/1.1 and HTTP/2 (curl)
//! and HTTP/3 (h3 and aioquic), verified against Pebble's root; short-lived certificates
//! renewed without a restart; an unreachable CA retried, not a panic. Pebble validates for
//! real: PEBBLE_VA_ALWAYS_VALID is not set.
#![cfg(feature = "acme")]
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use twinport::acme::{Acme, AcmeConfig, Challenge};
use twinport_hyper::Http;
use twinport_testkit::clients::{quic_client_trusting, serial_hex, H3};
use twinport_testkit::logs::Logs;
use twinport_testkit::pebble::{free_port, Pebble, PebbleOpts};
use twinport_testkit::peers::{
    h3_seen, h3_seen_with, python, real_peers_see_at, require, run, Output,
};
use twinport_testkit::servers::Both;
use twinport_testkit::{bounded, eventually, Pki, TempDir};

/// The serial of the certificate the server holds for `name` now.
fn serial_of(acme: &Acme, name: &str) -> Option<String> {
    acme.certificates()
        .lookup(Some(name))
        .map(|k| serial_hex(&k.cert[0]))
}

/// curl (h1, h2), h3 and aioquic all get a 200 and the certificate `serial` for `name`,
/// verified against `root`.
async fn every_protocol_sees(both: &Both, name: &str, root: &Path, serial: &str) {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    let config = quic_client_trusting(&std::fs::read(root).unwrap());
    let seen = h3_seen_with(both.addr, name, config).await.unwrap();
    assert_eq!((seen.status, seen.serial.as_str()), (200, serial), "h3");
    real_peers_see_at((&curl, &python), both.addr, name, root, "/info", serial).await;
}

/// What curl says (its `-w` format `what`) of plain-HTTP `http://NAME:PORT{path}`, `name`
/// resolved to 127.0.0.1.
async fn curl_plain(curl: &Path, name: &str, port: u16, path: &str, what: &str) -> Output {
    let url = format!("http://{name}:{port}{path}");
    let resolve = format!("{name}:{port}:127.0.0.1");
    let args = [
        "-sS",
        "-o",
        "/dev/null",
        "--resolve",
        &resolve,
        "-w",
        what,
        &url,
    ];
    run(curl, &args).await
}

struct Setup {
    both: Both,
    acme: Acme,
    pebble: Pebble,
    cache: TempDir,
    http_port: u16,
}

async fn setup(name: &str, challenge: Challenge, validity_secs: Option<u64>) -> Option<Setup> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = listener.local_addr().unwrap().port();
    let http_port = free_port();
    let opts = PebbleOpts {
        http_port,
        tls_port,
        validity_secs,
        port: None,
    };
    let pebble = Pebble::start(opts).await?;
    let cache = TempDir::new("acme-cache");
    let acme = AcmeConfig::new([name], &pebble.directory, cache.path("acme"))
        .ca_root(&pebble.directory_ca)
        .challenge(challenge)
        .https_port(tls_port)
        .retry_backoff(Duration::from_millis(200), Duration::from_secs(2))
        .start()
        .unwrap();
    if challenge == Challenge::Http01 {
        let http = Http::bind(([127, 0, 0, 1], http_port).into())
            .await
            .unwrap();
        tokio::spawn(http.serve(acme.http01_service()));
    }
    let both = Both::serve_on(listener, &acme.server_tls());
    Some(Setup {
        both,
        acme,
        pebble,
        cache,
        http_port,
    })
}

async fn obtained(s: &Setup, name: &str) -> String {
    let acme = &s.acme;
    bounded(90, "a certificate from Pebble", async {
        loop {
            if let Some(serial) = serial_of(acme, name) {
                return serial;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn tls_alpn_01_obtains_a_certificate_served_on_h1_h2_h3_and_cached_0600() {
    let name = "alpn.acme.test";
    let Some(s) = setup(name, Challenge::TlsAlpn01, None).await else {
        return;
    };
    let serial = obtained(&s, name).await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &serial).await;

    // The cache: account, certificate and key, owner-only.
    let dir = s.cache.path("acme");
    #[cfg(unix)]
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    for ext in ["json", "pem", "key"] {
        let f = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == ext));
        let f = f.unwrap_or_else(|| panic!("no .{ext} in the cache: {files:?}"));
        #[cfg(unix)]
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // A restart serves the cached certificate at once, even with the CA gone.
    drop(s.acme);
    let again = AcmeConfig::new([name], &s.pebble.directory, &dir)
        .ca_root(&s.pebble.directory_ca)
        .start()
        .unwrap();
    assert_eq!(
        serial_of(&again, name),
        Some(serial),
        "the cached certificate"
    );
    s.both.stop().await;
}

#[tokio::test]
async fn http_01_obtains_a_certificate_served_on_h1_h2_h3_and_port_80_redirects() {
    let name = "http.acme.test";
    let Some(s) = setup(name, Challenge::Http01, None).await else {
        return;
    };
    let serial = obtained(&s, name).await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &serial).await;

    let Some(curl) = require("curl") else { return };
    let http = |path, what| curl_plain(&curl, name, s.http_port, path, what);
    let out = http("/some/path?q=1", "%{http_code} %{redirect_url}").await;
    let want = format!("308 https://{name}:{}/some/path?q=1", s.both.addr.port());
    assert_eq!(out.stdout, want, "{}", out.stderr);
    let out = http("/.well-known/acme-challenge/nope", "%{http_code}").await;
    assert_eq!(out.stdout, "404");
    s.both.stop().await;
}

#[tokio::test]
async fn short_lived_certificates_are_renewed_and_new_connections_get_the_new_one() {
    let name = "renew.acme.test";
    // 12 s certificates: renewal is due at two thirds, 8 s after issuance.
    let Some(s) = setup(name, Challenge::TlsAlpn01, Some(12)).await else {
        return;
    };
    let first = obtained(&s, name).await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &first).await;
    // A connection open across the renewal keeps working.
    let config = quic_client_trusting(&std::fs::read(&s.pebble.root).unwrap());
    let mut h3 = H3::connect_as(s.both.addr, config, name).await.unwrap();

    let acme = &s.acme;
    let renewed = bounded(60, "a renewal", async {
        loop {
            match serial_of(acme, name) {
                Some(serial) if serial != first => return serial,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &renewed).await;
    assert_eq!(h3.get("/info").await.status, 200);
    h3.close().await;

    // A forced renewal too.
    s.acme.renew_now();
    let forced = bounded(60, "a forced renewal", async {
        loop {
            match serial_of(acme, name) {
                Some(serial) if serial != renewed && serial != first => return serial,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &forced).await;
    s.both.stop().await;
}

#[tokio::test]
async fn an_unreachable_ca_is_retried_with_a_warning_then_the_certificate_is_obtained() {
    let logs = Logs::capture();
    let name = "late.acme.test";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_port = listener.local_addr().unwrap().port();
    let pebble_port = free_port();
    let directory = format!("https://127.0.0.1:{pebble_port}/dir");
    let cache = TempDir::new("acme-late");
    let ca = cache.path("directory-ca.pem");
    std::fs::write(&ca, Pki::get().ca_pem()).unwrap();
    let acme = AcmeConfig::new([name], &directory, cache.path("acme"))
        .ca_root(&ca)
        .retry_backoff(Duration::from_millis(200), Duration::from_millis(800))
        .start()
        .unwrap();
    let both = Both::serve_on(listener, &acme.server_tls());

    eventually("a warning naming the unreachable directory", || {
        logs.lines_at("WARN")
            .iter()
            .any(|l| l.contains("could not obtain a certificate") && l.contains(&directory))
    })
    .await;
    assert!(serial_of(&acme, name).is_none());
    // Meanwhile handshakes are refused, the server is up.
    assert!(h3_seen(both.addr, name).await.is_err());

    let opts = PebbleOpts {
        http_port: free_port(),
        tls_port,
        validity_secs: None,
        port: Some(pebble_port),
    };
    let Some(pebble) = Pebble::start(opts).await else {
        return;
    };
    let s = Setup {
        both,
        acme,
        pebble,
        cache,
        http_port: 0,
    };
    let serial = obtained(&s, name).await;
    every_protocol_sees(&s.both, name, &s.pebble.root, &serial).await;
    s.both.stop().await;
}
