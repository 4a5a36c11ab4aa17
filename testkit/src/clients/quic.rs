//! Bare QUIC connections: no HTTP/3 client on top, or not even a finished handshake.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use tokio::net::UdpSocket;
use twinport_quinn::quinn;

use crate::pki::Pki;
use crate::time::within;

/// A QUIC connection from a fresh client endpoint (the handshake ends within the client's
/// 20 s idle timeout, so this returns rather than hangs).
pub async fn quic_connect(
    addr: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection), quinn::ConnectionError> {
    quic_connect_as(addr, config, "localhost").await
}

/// Like [`quic_connect`], asking for (and verifying) `server_name` in the SNI.
pub async fn quic_connect_as(
    addr: SocketAddr,
    config: quinn::ClientConfig,
    server_name: &str,
) -> Result<(quinn::Endpoint, quinn::Connection), quinn::ConnectionError> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = endpoint.connect_with(config, addr, server_name).unwrap();
    let conn = within(connecting).await?;
    Ok((endpoint, conn))
}

/// A raw QUIC connection with ALPN h3 (no HTTP/3 client on top).
pub async fn quic_raw(addr: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    quic_connect(addr, Pki::get().quic_client(None))
        .await
        .unwrap()
}

/// The first flight of a real QUIC client (its Initial datagrams), captured without ever
/// reaching the server: replaying it from a socket that never answers is a handshake that
/// never finishes.
pub async fn quic_first_flight() -> Vec<Vec<u8>> {
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let _connecting = endpoint
        .connect_with(
            Pki::get().quic_client(None),
            sink.local_addr().unwrap(),
            "localhost",
        )
        .unwrap();
    let mut flight = Vec::new();
    let mut buf = vec![0u8; 65536];
    let (n, _) = within(sink.recv_from(&mut buf)).await.unwrap();
    flight.push(buf[..n].to_vec());
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(100), sink.recv_from(&mut buf)).await
    {
        flight.push(buf[..n].to_vec());
    }
    endpoint.close(0u32.into(), b"");
    flight
}

/// A QUIC client configuration for HTTP/3 trusting only the CA certificates of this PEM.
pub fn quic_client_trusting(ca_pem: &[u8]) -> quinn::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = twinport::tls::default_crypto_provider().unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    quinn::ClientConfig::new(std::sync::Arc::new(crypto))
}
