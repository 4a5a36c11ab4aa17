//! The [`ConnectionInfo`] of a QUIC connection, built once when its handshake completes.

use std::net::SocketAddr;

use crate::tls::HandshakeData;
use rustls::pki_types::CertificateDer;
use twinport::{
    connection_info::CertificateError, connection_info::PeerCertificate, connection_info::TlsInfo,
    connection_info::TransportKind, ConnectionInfo,
};

/// Describes `conn`, whose endpoint is bound to `endpoint_addr`. The client's chain (if any)
/// is parsed here, once per connection.
pub(crate) fn connection_info(
    conn: &quinn::Connection,
    endpoint_addr: SocketAddr,
) -> Result<ConnectionInfo, CertificateError> {
    let handshake = conn
        .handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .map(|h| *h)
        .unwrap_or_default();
    let peer = match conn
        .peer_identity()
        .and_then(|p| p.downcast::<Vec<CertificateDer<'static>>>().ok())
    {
        Some(chain) if !chain.is_empty() => Some(PeerCertificate::from_chain(*chain)?),
        _ => None,
    };
    let mut tls = TlsInfo::builder().version(
        handshake
            .version
            .unwrap_or(rustls::ProtocolVersion::TLSv1_3),
    );
    if let Some(name) = handshake.server_name {
        tls = tls.server_name(name);
    }
    if let Some(suite) = handshake.cipher_suite {
        tls = tls.cipher_suite(suite);
    }
    if let Some(group) = handshake.key_exchange_group {
        tls = tls.key_exchange_group(group);
    }
    if let Some(peer) = peer {
        tls = tls.peer_certificate(peer);
    }
    let tls = tls.resumed(handshake.resumed).build();
    // On a wildcard bind, the address the client actually reached.
    let local = match conn.local_ip() {
        Some(ip) if endpoint_addr.ip().is_unspecified() => {
            SocketAddr::new(ip, endpoint_addr.port())
        }
        _ => endpoint_addr,
    };
    let mut builder = ConnectionInfo::builder(TransportKind::Quic)
        .local_addr(local)
        .remote_addr(conn.remote_address())
        .tls(tls);
    if let Some(alpn) = handshake.protocol {
        builder = builder.alpn(alpn);
    }
    Ok(builder.build())
}

/// The connection's info as of now: QUIC connections migrate, so the remote address is read
/// per request (as cheap as a clone).
pub(crate) fn current(info: &ConnectionInfo, conn: &quinn::Connection) -> ConnectionInfo {
    info.migrated_to(conn.remote_address())
}
