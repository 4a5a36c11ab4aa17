//! The example (`examples/serve`) run as a user runs it from the README: `--acme` against
//! Pebble with TLS-ALPN-01 and with HTTP-01, and `--cert-dir` with the files replaced while
//! it runs; curl (h1, h2) and aioquic (h3) check the certificate it serves.
#![cfg(feature = "acme")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::process::Child;
use twinport_testkit::clients::Proto;
use twinport_testkit::fs::path_arg;
use twinport_testkit::pebble::{free_port, Pebble, PebbleOpts};
use twinport_testkit::peers::{curl_seen, python, real_peers_see_at, require, CurlAsk};
use twinport_testkit::servers::ExampleProcess;
use twinport_testkit::{bounded, Pki, TempDir};

/// Starts the example with `args`; returns once it printed its address.
async fn start(args: &[&str]) -> (Child, SocketAddr) {
    let example = ExampleProcess::start(args)
        .await
        .expect("the example binary (cargo test builds it)");
    (example.child, example.addr)
}

/// Polls with curl (HTTP/2) until `name` is served with a certificate `ca` verifies (other than
/// `not`), then checks that curl on HTTP/1.1 and HTTP/2 and aioquic see it too; its serial.
async fn served_serial(
    (curl, python): (&Path, &Path),
    addr: SocketAddr,
    name: &str,
    ca: &Path,
    not: Option<&str>,
) -> String {
    let serial = bounded(90, "the example serving the certificate", async {
        loop {
            let ask = CurlAsk {
                proto: Proto::H2,
                name: Some(name),
                path: "/whoami",
                ..CurlAsk::default()
            };
            if let Ok(seen) = curl_seen(curl, addr, ca, ask).await {
                if seen.status == 200 && Some(seen.serial.as_str()) != not {
                    return seen.serial;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    real_peers_see_at((curl, python), addr, name, ca, "/whoami", &serial).await;
    serial
}

#[tokio::test]
async fn the_example_obtains_its_certificate_from_pebble_by_tls_alpn_01_and_by_http_01() {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    for http01 in [false, true] {
        let (tls_port, http_port) = (free_port(), free_port());
        let opts = PebbleOpts {
            http_port,
            tls_port,
            validity_secs: None,
            port: None,
        };
        let Some(pebble) = Pebble::start(opts).await else {
            return;
        };
        let cache = TempDir::new("example-acme");
        let name = if http01 {
            "http.example.test"
        } else {
            "alpn.example.test"
        };
        let addr = format!("127.0.0.1:{tls_port}");
        let http_port = http_port.to_string();
        let mut args = vec![
            "--addr",
            &addr,
            "--acme",
            name,
            "--acme-directory",
            &pebble.directory,
            "--acme-cache",
            path_arg(cache.dir()),
            "--acme-ca-root",
            path_arg(&pebble.directory_ca),
        ];
        if http01 {
            args.extend(["--acme-http-port", http_port.as_str()]);
        }
        let (child, addr) = start(&args).await;
        served_serial((&curl, &python), addr, name, &pebble.root, None).await;
        drop(child);
    }
}

#[tokio::test]
async fn the_example_serves_a_cert_dir_and_reloads_it() {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    let dir = TempDir::new("example-cert-dir");
    let ca = dir.path("ca.pem");
    std::fs::write(&ca, Pki::get().ca_pem()).unwrap();
    let write = |serial: u8| {
        let id = Pki::get().issue_server("example", &["dir.example.test"], &[0x60, serial]);
        std::fs::write(dir.path(".server.pem"), &id.chain_pem).unwrap();
        std::fs::write(dir.path(".server.key"), &id.key_pem).unwrap();
        std::fs::rename(dir.path(".server.pem"), dir.path("server.pem")).unwrap();
        std::fs::rename(dir.path(".server.key"), dir.path("server.key")).unwrap();
    };
    write(1);
    let (child, addr) = start(&["--addr", "127.0.0.1:0", "--cert-dir", path_arg(dir.dir())]).await;
    let peers = (curl.as_path(), python.as_path());
    let first = served_serial(peers, addr, "dir.example.test", &ca, None).await;
    assert_eq!(first, "6001");
    write(2);
    let second = served_serial(peers, addr, "dir.example.test", &ca, Some("6001")).await;
    assert_eq!(second, "6002");
    drop(child);
}
