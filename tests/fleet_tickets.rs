#![cfg(unix)]
#![allow(clippy::unwrap_used)]
//! Session resumption across instances: two independent servers made from the same
//! certificate, each with its own rustls configuration, over real TCP sockets. A client that
//! got a session from instance A resumes it on instance B when both have the same fleet key
//! (TLS 1.3 and 1.2) or share a session store; with another key, B makes a full handshake.
//! For QUIC, the configuration's fields: tickets, and 0-RTT only with stateful resumption.

mod fleet;

use std::net::SocketAddr;
use std::sync::Arc;

use fleet::SharedStore;
use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::pki_types::ServerName;
use rustls::server::StoresServerSessions;
use rustls::{ClientConfig, HandshakeKind, ServerConfig, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use twinport::fleet::FleetKey;
use twinport::ServerTls;
use twinport_testkit::logs::Logs;
use twinport_testkit::{within, Pki};

use rustls::version::{TLS12, TLS13};

/// A TLS server on 127.0.0.1 answering `ok` on every connection.
async fn serve(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = tls.write_all(b"ok").await;
                let _ = tls.flush().await;
                let mut rest = Vec::new();
                let _ = tls.read_to_end(&mut rest).await;
            });
        }
    });
    addr
}

/// A client of the test CA speaking only `version`, with its own session cache.
fn client(version: &'static SupportedProtocolVersion) -> Arc<ClientConfig> {
    let provider = twinport::tls::default_crypto_provider().unwrap();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(Pki::get().root_store())
        .with_no_client_auth();
    config.resumption = Resumption::store(Arc::new(ClientSessionMemoryCache::new(32)));
    Arc::new(config)
}

/// Connects to `addr` as `localhost`, reads the server's `ok` (and, before it, the session
/// tickets), and says how the handshake went.
async fn handshake(addr: SocketAddr, client: &Arc<ClientConfig>) -> HandshakeKind {
    within(async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = TlsConnector::from(client.clone())
            .connect(name, tcp)
            .await
            .unwrap();
        let mut ok = [0u8; 2];
        tls.read_exact(&mut ok).await.unwrap();
        assert_eq!(&ok, b"ok");
        let kind = tls.get_ref().1.handshake_kind().unwrap();
        tls.shutdown().await.unwrap();
        kind
    })
    .await
}

fn key(byte: u8) -> FleetKey {
    FleetKey::from_bytes(&[byte; 32]).unwrap()
}

/// Instances A and B, each from its own `ServerTls`; the client's first handshake on A,
/// its second on B.
async fn a_then_b(
    a: ServerTls,
    b: ServerTls,
    version: &'static SupportedProtocolVersion,
) -> (HandshakeKind, HandshakeKind) {
    let a = serve(a.tcp_config().unwrap()).await;
    let b = serve(b.tcp_config().unwrap()).await;
    let client = client(version);
    let first = handshake(a, &client).await;
    let second = handshake(b, &client).await;
    (first, second)
}

#[tokio::test]
async fn a_session_from_one_instance_resumes_on_another_with_the_same_fleet_key() {
    let pki = Pki::get();
    for version in [&TLS13, &TLS12] {
        let (a, b) = (
            pki.server_tls().fleet_key(&key(1)),
            pki.server_tls().fleet_key(&key(1)),
        );
        let kinds = a_then_b(a, b, version).await;
        assert_eq!(
            kinds,
            (HandshakeKind::Full, HandshakeKind::Resumed),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn without_a_fleet_key_or_with_another_the_other_instance_makes_a_full_handshake() {
    let pki = Pki::get();
    for version in [&TLS13, &TLS12] {
        // Each instance has its own in-process sessions: B does not know A's.
        let kinds = a_then_b(pki.server_tls(), pki.server_tls(), version).await;
        assert_eq!(
            kinds,
            (HandshakeKind::Full, HandshakeKind::Full),
            "{version:?}"
        );

        let (a, b) = (
            pki.server_tls().fleet_key(&key(1)),
            pki.server_tls().fleet_key(&key(2)),
        );
        let kinds = a_then_b(a, b, version).await;
        assert_eq!(
            kinds,
            (HandshakeKind::Full, HandshakeKind::Full),
            "{version:?}"
        );
    }
}

#[tokio::test]
async fn during_a_rotation_the_previous_secret_still_resumes() {
    let pki = Pki::get();
    let old = pki.server_tls().fleet_key(&key(1));
    let rotated = pki.server_tls().fleet_key(&key(2).with_previous(key(1)));
    let kinds = a_then_b(old, rotated, &TLS13).await;
    assert_eq!(kinds, (HandshakeKind::Full, HandshakeKind::Resumed));
}

#[tokio::test]
async fn a_shared_session_store_resumes_across_instances_and_takes_the_session() {
    let pki = Pki::get();
    for version in [&TLS13, &TLS12] {
        let store = Arc::new(SharedStore::default());
        // The store is used even with a fleet key: stateful resumption.
        let (a, b) = (
            pki.server_tls().session_store(store.clone()),
            pki.server_tls()
                .fleet_key(&key(2))
                .session_store(store.clone()),
        );
        let kinds = a_then_b(a, b, version).await;
        assert_eq!(
            kinds,
            (HandshakeKind::Full, HandshakeKind::Resumed),
            "{version:?}"
        );
        let taken = store.taken();
        if version == &TLS13 {
            // TLS 1.3 takes the ticket's session: it cannot be used again.
            assert_eq!(taken, 1);
        } else {
            // TLS 1.2 resumes a session id, which stays.
            assert_eq!(taken, 0);
        }
    }
}

#[test]
fn quic_0rtt_needs_stateful_resumption() {
    let pki = Pki::get();
    let logs = Logs::capture();

    // Today's default: in-process sessions, 0-RTT when asked for.
    let plain = pki.server_tls().early_data(true);
    let quic = plain.quic_config(&[]).unwrap();
    assert!(!quic.ticketer.enabled());
    assert_eq!(quic.max_early_data_size, u32::MAX);
    assert!(plain.early_data_enabled());

    // A fleet key: stateless tickets on both transports, and no 0-RTT.
    let fleet = pki.server_tls().fleet_key(&key(1)).early_data(true);
    let quic = fleet.quic_config(&[]).unwrap();
    assert!(quic.ticketer.enabled());
    assert_eq!(quic.max_early_data_size, 0);
    assert!(!fleet.early_data_enabled());
    let warnings = logs.lines_at("WARN");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("QUIC 0-RTT is off"), "{warnings:?}");
    logs.clear();
    // Without early_data(true), nothing to warn about.
    let quic = pki
        .server_tls()
        .fleet_key(&key(1))
        .quic_config(&[])
        .unwrap();
    assert_eq!(quic.max_early_data_size, 0);
    assert!(logs.lines_at("WARN").is_empty());
    let tcp = fleet.tcp_config().unwrap();
    assert!(tcp.ticketer.enabled());
    assert_eq!(tcp.max_early_data_size, 0);

    // A shared store (with or without a fleet key): stateful, 0-RTT when asked for.
    let store = Arc::new(SharedStore::default());
    let shared = pki
        .server_tls()
        .fleet_key(&key(1))
        .session_store(store.clone())
        .early_data(true);
    let quic = shared.quic_config(&[]).unwrap();
    assert!(!quic.ticketer.enabled());
    assert_eq!(quic.max_early_data_size, u32::MAX);
    assert!(shared.early_data_enabled());
    assert!(quic
        .session_storage
        .put(b"id".to_vec(), b"session".to_vec()));
    assert_eq!(store.get(b"id").as_deref(), Some(&b"session"[..]));
    let no_early = pki
        .server_tls()
        .session_store(store)
        .quic_config(&[])
        .unwrap();
    assert_eq!(no_early.max_early_data_size, 0);

    // A configuration of the user's own is left as it is.
    let own = Arc::new(pki.server_tls().quic_config(&[]).unwrap());
    let own = ServerTls::from_server_config(own)
        .fleet_key(&key(1))
        .early_data(true);
    let quic = own.quic_config(&[]).unwrap();
    assert!(!quic.ticketer.enabled());
    assert_eq!(quic.max_early_data_size, u32::MAX);
    assert!(!own.tcp_config().unwrap().ticketer.enabled());
    assert!(logs.lines_at("WARN").is_empty(), "{}", logs.text());
}
