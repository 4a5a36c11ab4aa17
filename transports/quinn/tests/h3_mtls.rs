//! Client certificates over HTTP/3 under each client-auth policy: what the handler sees of
//! the client, and which clients the handshake refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod h3_kit;

use std::time::Duration;

use h3_kit::*;
use twinport::ClientAuth;
use twinport_testkit::clients::quic_connect;
use twinport_testkit::pki::Id;
use twinport_testkit::servers::serve_http3;
use twinport_testkit::{bounded, init_tracing, Pki};

async fn mtls_info(auth: ClientAuth, cert: Option<&Id>) -> Result<serde_json::Value, String> {
    let pki = Pki::get();
    let tls = pki.server_tls().client_auth(auth);
    let server = serve_http3(h3_endpoint(&tls));
    let result = async {
        let (endpoint, conn) = quic_connect(server.addr, pki.quic_client(cert))
            .await
            .map_err(|e| e.to_string())?;
        let (mut driver, send) = bounded(
            10,
            "h3 setup",
            h3::client::new(h3_quinn::Connection::new(conn.clone())),
        )
        .await
        .map_err(|e| e.to_string())?;
        let drive = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        let reply = bounded(10, "mTLS request", get_on(send, "/info"))
            .await
            .map_err(|e| e.to_string())?;
        conn.close(0u32.into(), b"");
        drive.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        Ok(reply.json())
    }
    .await;
    server.stop(Duration::from_secs(1)).await;
    result
}

/// What the handler must see of a client, or that its handshake is refused.
enum Seen {
    /// No client certificate.
    Anonymous,
    /// The test client's certificate, alice.
    Alice,
    /// The handshake fails.
    Refused,
}

/// Connects once per row, presenting the row's certificate (or none) to a server with
/// client-auth `auth`, and checks what the handler saw.
async fn check(auth: impl Fn() -> ClientAuth, rows: &[(&str, Option<&Id>, Seen)]) {
    init_tracing();
    for (client, cert, seen) in rows {
        let info = mtls_info(auth(), *cert).await;
        match seen {
            Seen::Anonymous => {
                let info = info.unwrap();
                assert!(info["client_cn"].is_null(), "{client}: {info}");
            }
            Seen::Alice => {
                let info = info.unwrap();
                assert_eq!(info["client_cn"], "alice");
                assert_eq!(info["client_dns"], serde_json::json!(["alice.example"]));
                assert_eq!(info["client_spiffe"], "spiffe://example.org/alice");
                assert!(info["client_issuer"]
                    .as_str()
                    .unwrap()
                    .contains("twinport test CA"));
            }
            Seen::Refused => assert!(info.is_err(), "{client} must be refused: {info:?}"),
        }
    }
}

#[tokio::test]
async fn mtls_none_ignores_client_certificates() {
    let pki = Pki::get();
    check(
        || ClientAuth::None,
        &[
            ("a client certificate", Some(&pki.client), Seen::Anonymous),
            ("no certificate", None, Seen::Anonymous),
        ],
    )
    .await;
}

#[tokio::test]
async fn mtls_optional_serves_both_and_shows_the_certificate() {
    let pki = Pki::get();
    check(
        || ClientAuth::Optional(pki.roots()),
        &[
            ("a client certificate", Some(&pki.client), Seen::Alice),
            ("no certificate", None, Seen::Anonymous),
            (
                "a certificate from another CA",
                Some(&pki.foreign),
                Seen::Refused,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn mtls_required_refuses_missing_and_foreign_certificates() {
    let pki = Pki::get();
    check(
        || ClientAuth::Required(pki.roots()),
        &[
            ("a client certificate", Some(&pki.client), Seen::Alice),
            ("no certificate", None, Seen::Refused),
            (
                "a certificate from another CA",
                Some(&pki.foreign),
                Seen::Refused,
            ),
        ],
    )
    .await;
}
