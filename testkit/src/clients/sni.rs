//! Clients that choose the server name they ask for (SNI), and the serial number of the
//! certificate a server answered with, on TCP+TLS and on QUIC.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use twinport::connection_info::PeerCertificate;
use twinport_quinn::quinn;

use crate::pki::{Id, Pki};
use crate::time::within;

/// A TLS connection to `addr` trusting the test CA, asking for `server_name` (`None`: no SNI,
/// the certificate verified for the IP address), offering `alpn`, presenting `id`.
pub async fn tls_connect_as(
    addr: SocketAddr,
    server_name: Option<&str>,
    alpn: &[&[u8]],
    id: Option<&Id>,
) -> io::Result<TlsStream<TcpStream>> {
    let config = Pki::get().client_tls(alpn, id);
    tls_connect_with(addr, server_name, Arc::new(config)).await
}

/// Like [`tls_connect_as`] with a client configuration of its own.
pub async fn tls_connect_with(
    addr: SocketAddr,
    server_name: Option<&str>,
    config: Arc<rustls::ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let name = match server_name {
        Some(n) => ServerName::try_from(n.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let tcp = within(TcpStream::connect(addr)).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    within(connector.connect(name, tcp)).await
}

/// The serial number of a leaf certificate as lowercase hex without leading zeros (as
/// `openssl`, curl and Python's `cryptography` print it, colons left out).
pub fn serial_hex(leaf: &CertificateDer<'static>) -> String {
    let cert = PeerCertificate::from_chain(vec![leaf.clone()]).expect("a parsable certificate");
    normalize_serial(cert.serial())
}

/// `01:0A:ff` or `10aff` → `10aff`.
pub fn normalize_serial(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

/// The serial of the certificate a TLS server answered with.
pub fn tls_serial(tls: &TlsStream<TcpStream>) -> String {
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("a server certificate");
    serial_hex(&certs[0])
}

/// The serial of the certificate a QUIC server answered with.
pub fn quic_serial(conn: &quinn::Connection) -> String {
    let identity = conn.peer_identity().expect("a server certificate");
    let certs = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .expect("rustls certificates");
    serial_hex(&certs[0])
}
