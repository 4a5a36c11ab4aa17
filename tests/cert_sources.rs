//! Certificates from the user's own resolver or complete rustls `ServerConfig`, accepted by
//! twinport-hyper and twinport-quinn alike (ALPN still set per transport), and client
//! certificates verified the same way on both when the certificates come from a
//! [`Certificates`] set.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use twinport::{Certificates, ClientAuth, ServerTls};
use twinport_testkit::clients::{
    empty, quic_serial, tls_connect_as, tls_serial, uri, Hyper, Proto, H3, TCP,
};
use twinport_testkit::fs::path_arg;
use twinport_testkit::peers::{aioquic_seen, curl_seen, h3_seen, python, require, run, CurlAsk};
use twinport_testkit::pki::Id;
use twinport_testkit::servers::Both;
use twinport_testkit::{Pki, TempDir};

fn certified(id: &Id) -> Arc<CertifiedKey> {
    let provider = twinport::tls::default_crypto_provider().unwrap();
    let key = provider.key_provider.load_private_key(id.key()).unwrap();
    Arc::new(CertifiedKey::new(id.chain.clone(), key))
}

/// A resolver of the user's own: one certificate, and the SNI of every handshake it saw.
#[derive(Debug)]
struct Recording {
    key: Arc<CertifiedKey>,
    seen: Mutex<Vec<Option<String>>>,
}

impl ResolvesServerCert for Recording {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_owned);
        self.seen.lock().unwrap().push(sni);
        Some(self.key.clone())
    }
}

fn ca_file(dir: &TempDir) -> std::path::PathBuf {
    let ca = dir.path("ca.pem");
    std::fs::write(&ca, Pki::get().ca_pem()).unwrap();
    ca
}

/// Whether an HTTP/3 client without a certificate is refused by the server at `both` for
/// `name`: in the handshake, or (TLS 1.3: the client learns of the refusal on its first use
/// of the connection) on its first request.
async fn quic_refuses_anonymous(both: &Both, name: &str) -> bool {
    match H3::connect_as(both.addr, Pki::get().quic_client(None), name).await {
        Err(_) => true,
        Ok(mut h3) => h3
            .send(
                http::Request::get(uri("/info")).body(()).unwrap(),
                Default::default(),
                None,
            )
            .await
            .is_err(),
    }
}

#[tokio::test]
async fn an_own_resolver_serves_h1_h2_and_h3() {
    let (Some(curl), Some(python)) = (require("curl"), python("aioquic")) else {
        return;
    };
    let id = Pki::get().issue_server("byo", &["byo.test"], &[0x20, 0x01]);
    let resolver = Arc::new(Recording {
        key: certified(&id),
        seen: Mutex::default(),
    });
    let both = Both::serve(&ServerTls::from_resolver(resolver.clone()).unwrap()).await;
    let dir = TempDir::new("byo-resolver");
    let ca = ca_file(&dir);

    for (proto, version) in [(Proto::H1, "1.1"), (Proto::H2, "2")] {
        let ask = CurlAsk {
            proto,
            name: Some("byo.test"),
            ..CurlAsk::default()
        };
        let seen = curl_seen(&curl, both.addr, &ca, ask).await.unwrap();
        assert_eq!((seen.status, seen.serial.as_str()), (200, "2001"));
        assert_eq!(seen.version, version);
    }
    let seen = h3_seen(both.addr, "byo.test").await.unwrap();
    assert_eq!((seen.status, seen.serial.as_str()), (200, "2001"));
    let seen = aioquic_seen(&python, both.addr, "byo.test", &ca, "/info")
        .await
        .unwrap();
    assert_eq!((seen.status, seen.serial.as_str()), (200, "2001"));

    let seen = resolver.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some("byo.test".to_owned()); 4],
        "every handshake asked the resolver"
    );
    both.stop().await;
}

#[tokio::test]
async fn an_own_server_config_serves_both_transports_with_twinports_alpn_and_its_verifier() {
    let Some(curl) = require("curl") else { return };
    let pki = Pki::get();
    let id = pki.issue_server("own-config", &["own.test"], &[0x20, 0x02]);
    let provider = twinport::tls::default_crypto_provider().unwrap();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(pki.root_store()), provider.clone())
            .build()
            .unwrap();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified(
            &id,
        ))));
    config.alpn_protocols = vec![b"something-else".to_vec()];
    let both = Both::serve(&ServerTls::from_server_config(Arc::new(config))).await;
    let files = pki.write_files();

    // The config's own verifier requires a client certificate, on TCP...
    let url = format!("https://own.test:{}/info", both.addr.port());
    let resolve = format!("own.test:{}:127.0.0.1", both.addr.port());
    let ca = files.ca();
    let mut args = vec![
        "-sS",
        "--http2",
        "--cacert",
        path_arg(&ca),
        "--resolve",
        &resolve,
    ];
    let cert_args = files.cert_args("client");
    let refused = run(&curl, &[args.as_slice(), &[url.as_str()]].concat()).await;
    assert!(!refused.success, "no client certificate must be refused");
    args.extend(cert_args.iter().map(String::as_str));
    args.push(&url);
    let out = run(&curl, &args).await;
    assert!(out.success, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["alpn"], "h2", "twinport set the TCP ALPN list");
    assert_eq!(json["client_cn"], "alice");

    // ... and on QUIC, where the ALPN is h3.
    let config = pki.quic_client(Some(&pki.client));
    let mut h3 = H3::connect_as(both.addr, config, "own.test").await.unwrap();
    assert_eq!(quic_serial(&h3.conn), "2002");
    let json = h3.get("/info").await.json();
    assert_eq!(
        (json["alpn"].as_str(), json["client_cn"].as_str()),
        (Some("h3"), Some("alice"))
    );
    h3.close().await;
    assert!(
        quic_refuses_anonymous(&both, "own.test").await,
        "no client certificate must be refused on QUIC too"
    );
    both.stop().await;
}

#[tokio::test]
async fn client_certificates_are_verified_the_same_on_both_transports_with_several_certificates() {
    let pki = Pki::get();
    let id = pki.issue_server("mtls", &["mtls.test"], &[0x20, 0x03]);
    let certs = Certificates::builder()
        .pem(id.chain_pem.as_bytes(), id.key_pem.as_bytes())
        .build()
        .unwrap();
    let tls = ServerTls::from_certificates(&certs).client_auth(ClientAuth::Required(pki.roots()));
    let both = Both::serve(&tls).await;

    for proto in TCP {
        let alpn = &[proto.alpn()];
        let io = tls_connect_as(both.addr, Some("mtls.test"), alpn, Some(&pki.client))
            .await
            .unwrap();
        assert_eq!(tls_serial(&io), "2003");
        let (mut client, _task) = Hyper::handshake(io, proto).await.unwrap();
        let json = client.get_json("/info").await;
        assert_eq!(json["client_cn"], "alice", "{proto:?}");
        assert_eq!(json["sni"], "mtls.test");

        let refused = match tls_connect_as(both.addr, Some("mtls.test"), alpn, None).await {
            Err(_) => true,
            Ok(io) => match Hyper::handshake(io, proto).await {
                Err(_) => true,
                Ok((mut c, _t)) => {
                    c.ready().await.is_err() || {
                        let req = c.request("GET", "/info", empty());
                        c.send(req).await.is_err()
                    }
                }
            },
        };
        assert!(refused, "no client certificate must be refused ({proto:?})");
    }

    let mut h3 = H3::connect_as(both.addr, pki.quic_client(Some(&pki.client)), "mtls.test")
        .await
        .unwrap();
    assert_eq!(quic_serial(&h3.conn), "2003");
    let json = h3.get("/info").await.json();
    assert_eq!(
        (json["client_cn"].as_str(), json["sni"].as_str()),
        (Some("alice"), Some("mtls.test"))
    );
    h3.close().await;
    assert!(
        quic_refuses_anonymous(&both, "mtls.test").await,
        "no client certificate must be refused on QUIC"
    );
    both.stop().await;
}
