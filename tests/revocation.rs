#![allow(clippy::unwrap_used)]
//! Client-certificate revocation with CRLs made by `openssl ca`: a revoked client is refused
//! on HTTP/1.1, HTTP/2 (curl) and HTTP/3 (aioquic) with a TLS alert it can read, a valid one
//! is served, and a new CRL or a new client CA file applies to new handshakes without a
//! restart; a malformed CRL keeps the previous one and is logged naming the file.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use twinport::{CaRoots, ClientAuth};
use twinport_testkit::clients::Proto;
use twinport_testkit::fs::path_arg;
use twinport_testkit::logs::Logs;
use twinport_testkit::peers::{peer_json, python, require, run};
use twinport_testkit::pki::OpensslCa;
use twinport_testkit::servers::Both;
use twinport_testkit::{Pki, TempDir};

/// One client's answer on one protocol: the `client_cn` it was served as, or the error.
async fn fetch_as(proto: Proto, port: u16, cert: &Path, key: &Path) -> Result<String, String> {
    let (cert, key) = (path_arg(cert), path_arg(key));
    if proto == Proto::H3 {
        let python = python("aioquic").unwrap();
        let args = ["--cert", cert, "--key", key, "--request", "GET", "/info"];
        let out = peer_json(&python, "h3_client.py", port, &args).await;
        return match out["responses"][0]["body"].as_str() {
            Some(body) => Ok(cn(body)),
            None => Err(out["error"].to_string()),
        };
    }
    let curl = require("curl").unwrap();
    let files = Pki::get().write_files();
    let ca = files.ca();
    let flag = if proto == Proto::H2 {
        "--http2"
    } else {
        "--http1.1"
    };
    let url = format!("https://localhost:{port}/info");
    let args = [
        "-sSv",
        "--max-time",
        "10",
        flag,
        "--cacert",
        path_arg(&ca),
        "--cert",
        cert,
        "--key",
        key,
        &url,
    ];
    let out = run(&curl, &args).await;
    if out.success {
        Ok(cn(&out.stdout))
    } else {
        Err(out.stderr)
    }
}

fn cn(body: &str) -> String {
    let info: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    info["client_cn"].as_str().unwrap_or_default().to_owned()
}

const PROTOS: [Proto; 3] = [Proto::H1, Proto::H2, Proto::H3];

/// A request over `proto` presenting the certificate `name` of `ca`.
async fn fetch_named(
    ca: &OpensslCa,
    name: &str,
    proto: Proto,
    port: u16,
) -> Result<String, String> {
    let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
    fetch_as(proto, port, &ca.path(&pem), &ca.path(&key)).await
}

/// `name` (whose files are in `ca`) is served as itself on every protocol.
async fn served(ca: &OpensslCa, name: &str, port: u16) {
    for proto in PROTOS {
        let got = fetch_named(ca, name, proto, port).await;
        assert_eq!(got.as_deref(), Ok(name), "{name} over {proto:?}");
    }
}

/// `name` is refused on every protocol, with the alert `alert` (curl's words) on TCP and
/// QUIC's CRYPTO_ERROR carrying it (0x100 + the alert code) on HTTP/3.
async fn refused(ca: &OpensslCa, name: &str, port: u16, alert: (&str, &str)) {
    for proto in PROTOS {
        let got = fetch_named(ca, name, proto, port).await;
        let err = got.expect_err(&format!("{name} was served over {proto:?}"));
        let expected = if proto == Proto::H3 { alert.1 } else { alert.0 };
        assert!(err.contains(expected), "{name} over {proto:?}: {err}");
    }
}

/// Waits until a new HTTP/1.1 handshake of `name` gives `served` (true) or a refusal.
async fn until(ca: &OpensslCa, name: &str, port: u16, served: bool) {
    let (cert, key) = (
        ca.path(&format!("{name}.pem")),
        ca.path(&format!("{name}.key")),
    );
    for _ in 0..100 {
        if fetch_as(Proto::H1, port, &cert, &key).await.is_ok() == served {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{name} never became {}",
        if served { "served" } else { "refused" }
    );
}

const REVOKED: (&str, &str) = ("certificate revoked", "0x12c");
const UNKNOWN_CA: (&str, &str) = ("unknown ca", "0x130");

#[tokio::test]
async fn revoked_clients_are_refused_everywhere_and_new_crls_and_cas_apply_without_restart() {
    if require("curl").is_none() || python("aioquic").is_none() || require("openssl").is_none() {
        return;
    }
    let logs = Logs::capture();
    let ca = OpensslCa::new("crl-ca", "twinport test client CA");
    for name in ["alice", "bob", "carol"] {
        ca.issue(name);
    }
    ca.revoke("bob");
    let dir = TempDir::new("crl-served");
    let (ca_file, crl_file) = (dir.path("clients-ca.pem"), dir.path("clients.crl"));
    std::fs::copy(ca.path("ca.pem"), &ca_file).unwrap();
    ca.write_crl(&crl_file);

    let roots = CaRoots::from_pem_file(&ca_file)
        .unwrap()
        .crl_file(&crl_file)
        .unwrap();
    assert_eq!(roots.crl_count(), 1);
    let _watch = roots.watch_with(Duration::from_millis(100)).unwrap();
    let tls = Pki::get()
        .server_tls()
        .client_auth(ClientAuth::Required(roots));
    let both = Both::serve(&tls).await;
    let port = both.addr.port();

    served(&ca, "alice", port).await;
    served(&ca, "carol", port).await;
    refused(&ca, "bob", port, REVOKED).await;

    // A new CRL, written while serving, applies to new handshakes.
    ca.revoke("carol");
    ca.write_crl(&crl_file);
    until(&ca, "carol", port, false).await;
    refused(&ca, "carol", port, REVOKED).await;
    served(&ca, "alice", port).await;

    // A malformed CRL keeps the previous one, with a warning naming the file.
    std::fs::write(&crl_file, b"not a CRL").unwrap();
    let file = crl_file.display().to_string();
    for _ in 0..100 {
        if logs.lines_at("WARN").iter().any(|l| l.contains(&file)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let warned = logs.lines_at("WARN");
    assert!(
        warned
            .iter()
            .any(|l| l.contains(&file) && l.contains("invalid CRL")),
        "{warned:?}"
    );
    refused(&ca, "carol", port, REVOKED).await;
    served(&ca, "alice", port).await;

    // A new client CA (with its own CRL) replaces the old one: its clients are served, the
    // old CA's are not.
    let next = OpensslCa::new("crl-ca2", "twinport next client CA");
    next.issue("dave");
    std::fs::copy(next.path("ca.pem"), dir.path("ca.tmp")).unwrap();
    std::fs::rename(dir.path("ca.tmp"), &ca_file).unwrap();
    next.write_crl(&crl_file);
    until(&next, "dave", port, true).await;
    served(&next, "dave", port).await;
    refused(&ca, "alice", port, UNKNOWN_CA).await;
    both.stop().await;
}

#[tokio::test]
async fn certificates_reload_picks_up_the_client_crl_of_its_server_tls() {
    if require("curl").is_none() || python("aioquic").is_none() || require("openssl").is_none() {
        return;
    }
    let ca = OpensslCa::new("crl-certs", "twinport reload client CA");
    ca.issue("erin");
    let dir = TempDir::new("crl-certs-served");
    let crl_file = dir.path("clients.crl");
    ca.write_crl(&crl_file);
    let roots = CaRoots::from_pem_file(ca.path("ca.pem"))
        .unwrap()
        .crl_file(&crl_file)
        .unwrap();
    let server = &Pki::get().server;
    let certs = twinport::Certificates::builder()
        .pem(server.chain_pem.as_bytes(), server.key_pem.as_bytes())
        .build()
        .unwrap();
    let tls =
        twinport::ServerTls::from_certificates(&certs).client_auth(ClientAuth::Required(roots));
    assert!(certs.files().contains(&crl_file), "{:?}", certs.files());
    let both = Both::serve(&tls).await;
    served(&ca, "erin", both.addr.port()).await;

    ca.revoke("erin");
    ca.write_crl(&crl_file);
    assert_eq!(certs.reload().unwrap(), 1);
    refused(&ca, "erin", both.addr.port(), REVOKED).await;
    both.stop().await;
}
