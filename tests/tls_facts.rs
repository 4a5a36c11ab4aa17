#![allow(clippy::unwrap_used)]
//! Every negotiated TLS fact on every protocol: the example's `/whoami` names the TLS version,
//! cipher suite and key-exchange group a real client negotiated, over HTTP/1.1, HTTP/2 (curl)
//! and HTTP/3 (aioquic, ngtcp2's gtlsclient). Each client forces a suite and a group that are
//! not the server's first choice, so only the negotiated values can match.

use serde_json::Value;
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{peer_json, python, require, run};
use twinport_testkit::pki::Mtls;
use twinport_testkit::servers::start_example;
use twinport_testkit::{Pki, TempDir};

/// curl fetching `/whoami` with TLS 1.3's ChaCha20 suite and the P-256 group only.
async fn curl_whoami(port: u16, flag: &str) -> Value {
    let curl = require("curl").unwrap();
    let files = Pki::get().write_files();
    let ca = files.ca();
    let url = format!("https://localhost:{port}/whoami");
    let args = [
        "-sS",
        "--max-time",
        "20",
        "--cacert",
        path_arg(&ca),
        flag,
        "--tlsv1.3",
        "--tls13-ciphers",
        "TLS_CHACHA20_POLY1305_SHA256",
        "--curves",
        "P-256",
        &url,
    ];
    let out = run(&curl, &args).await;
    assert!(out.success, "curl {flag}: {}{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[tokio::test]
async fn curl_over_http1_and_http2_sees_the_forced_cipher_suite_and_group() {
    if require("curl").is_none() {
        return;
    }
    let server = start_example(Mtls::Off);
    for (flag, protocol) in [("--http1.1", "HTTP/1.1"), ("--http2", "HTTP/2")] {
        let info = curl_whoami(server.addr.port(), flag).await;
        assert_eq!(info["protocol"], protocol, "{info}");
        assert_eq!(info["tls_version"], "TLSv1.3", "{info}");
        assert_eq!(
            info["cipher_suite"], "TLS13_CHACHA20_POLY1305_SHA256",
            "{info}"
        );
        assert_eq!(info["key_exchange_group"], "secp256r1", "{info}");
    }
    server.stop().await;
}

/// curl with OpenSSL 3.0 offers classical groups only (X25519 first): it is served, and
/// `/whoami` says which group it got.
#[tokio::test]
async fn a_classical_client_is_served_with_x25519() {
    let Some(curl) = require("curl") else {
        return;
    };
    let server = start_example(Mtls::Off);
    let files = Pki::get().write_files();
    let ca = files.ca();
    let url = format!("https://localhost:{}/whoami", server.addr.port());
    let out = run(
        &curl,
        &["-sS", "--max-time", "20", "--cacert", path_arg(&ca), &url],
    )
    .await;
    assert!(out.success, "curl: {}{}", out.stdout, out.stderr);
    let info: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(info["key_exchange_group"], "X25519", "{info}");
    server.stop().await;
}

#[tokio::test]
async fn aioquic_over_http3_sees_the_cipher_suite_it_forced() {
    let Some(python) = python("aioquic") else {
        return;
    };
    let server = start_example(Mtls::Off);
    let port = server.addr.port();
    for (forced, expected) in [
        ("AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
        ("CHACHA20_POLY1305_SHA256", "TLS13_CHACHA20_POLY1305_SHA256"),
    ] {
        let out = peer_json(
            &python,
            "h3_client.py",
            port,
            &["--cipher", forced, "--request", "GET", "/whoami"],
        )
        .await;
        let body = out["responses"][0]["body"]
            .as_str()
            .unwrap_or_else(|| panic!("{out}"));
        let info: Value = serde_json::from_str(body).unwrap();
        assert_eq!(info["protocol"], "HTTP/3", "{info}");
        assert_eq!(info["tls_version"], "TLSv1.3", "{info}");
        assert_eq!(info["cipher_suite"], expected, "{info}");
        assert!(info["key_exchange_group"].is_string(), "{info}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ngtcp2_over_http3_sees_the_forced_cipher_suite_and_group() {
    let Some(gtls) = require("gtlsclient") else {
        return;
    };
    let server = start_example(Mtls::Off);
    let dir = TempDir::new("gtls-facts");
    let download = format!("--download={}", dir.dir().display());
    let port = server.addr.port().to_string();
    let url = format!("https://localhost:{port}/whoami");
    let ciphers = "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305";
    let groups = "--groups=-GROUP-ALL:+GROUP-SECP384R1";
    let args = [
        "--exit-on-all-streams-close",
        "--no-quic-dump",
        "--sni=localhost",
        "--timeout=10s",
        ciphers,
        groups,
        &download,
        "127.0.0.1",
        &port,
        &url,
    ];
    let out = run(&gtls, &args).await;
    assert!(out.success, "gtlsclient: {}\n{}", out.stdout, out.stderr);
    let body = std::fs::read_to_string(dir.path("whoami")).unwrap_or_default();
    let info: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(info["protocol"], "HTTP/3", "{info}");
    assert_eq!(
        info["cipher_suite"], "TLS13_CHACHA20_POLY1305_SHA256",
        "{info}"
    );
    assert_eq!(info["key_exchange_group"], "secp384r1", "{info}");
    server.stop().await;
}
