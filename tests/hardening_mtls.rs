#![allow(clippy::unwrap_used)]
//! Hardening of required client certificates: bad ones are refused on TCP and QUIC, with a log
//! line saying why.

use std::time::Duration;

use twinport_testkit::clients::{fetch, ALL};
use twinport_testkit::logs::Logs;
use twinport_testkit::pki::{Id, Mtls};
use twinport_testkit::servers::{start, Opts};
use twinport_testkit::{eventually, Pki};

/// Attack: clients without an acceptable certificate against a server that requires one: no
/// certificate, an expired one, one from another CA, one without the clientAuth EKU. Each is
/// refused on TCP (HTTP/1.1 and HTTP/2) and QUIC, with a log line saying why; a client with a
/// good certificate is served.
#[tokio::test]
async fn mtls_required_refuses_bad_client_certificates_on_tcp_and_quic() {
    let logs = Logs::capture();
    let srv = start(Opts {
        mtls: Mtls::Required,
        ..Opts::default()
    });
    let pki = Pki::get();
    let cases: [(&str, Option<&Id>, &[&str]); 4] = [
        ("no certificate", None, &["no certificates"]),
        ("expired", Some(&pki.expired), &["expired"]),
        ("another CA", Some(&pki.foreign), &["issuer"]),
        (
            "no clientAuth EKU",
            Some(&pki.no_client_eku),
            &["purpose", "usage"],
        ),
    ];
    for (what, id, why) in cases {
        for proto in ALL {
            logs.clear();
            let got = fetch(srv.addr, proto, "GET", "/ok", id).await;
            assert!(got.is_err(), "{what} over {proto:?} was served: {got:?}");
            let said = tokio::time::timeout(
                Duration::from_secs(10),
                eventually("", || {
                    let text = logs.text().to_lowercase();
                    why.iter().any(|w| text.contains(w))
                }),
            )
            .await;
            assert!(
                said.is_ok(),
                "{what} / {proto:?}: no log line says why:\n{}",
                logs.text()
            );
            eprintln!(
                "{what} / {proto:?}: {}",
                logs.text()
                    .to_lowercase()
                    .lines()
                    .find(|l| why.iter().any(|w| l.contains(w)))
                    .unwrap_or("")
                    .to_owned()
            );
        }
    }
    for proto in ALL {
        let got = fetch(srv.addr, proto, "GET", "/ok", Some(&pki.client)).await;
        assert_eq!(got.unwrap().0, 200, "{proto:?} with a good certificate");
    }
    srv.settles("mTLS connections closed").await;
    srv.stop().await;
}
