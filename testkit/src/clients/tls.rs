//! TLS over TCP to a test server, as `localhost`, trusting the test CA.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::pki::{Id, Pki};
use crate::time::within;

/// A TLS connection to `addr` offering `alpn`, presenting `id`.
pub async fn tls_connect(
    addr: SocketAddr,
    alpn: &[&[u8]],
    id: Option<&Id>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = within(TcpStream::connect(addr)).await?;
    tls_over(tcp, alpn, id).await
}

/// A TLS handshake as `localhost` on a TCP stream already open (after a PROXY header, say).
pub async fn tls_over(
    tcp: TcpStream,
    alpn: &[&[u8]],
    id: Option<&Id>,
) -> io::Result<TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(Pki::get().client_tls(alpn, id)));
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// Like [`tls_connect`], with a handle on the socket that makes the client vanish at once
/// (`shutdown(2)` both ways, whatever tasks still hold the stream).
pub async fn tls_connect_killable(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> io::Result<(TlsStream<TcpStream>, std::net::TcpStream)> {
    let tcp = within(TcpStream::connect(addr)).await?.into_std()?;
    let kill = tcp.try_clone()?;
    let tcp = TcpStream::from_std(tcp)?;
    Ok((tls_over(tcp, alpn, None).await?, kill))
}

/// The client's own port of a TLS connection.
pub fn local_port(tls: &TlsStream<TcpStream>) -> u16 {
    tls.get_ref().0.local_addr().unwrap().port()
}
