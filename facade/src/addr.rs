//! [`ServeAddr`]: where [`serve`](crate::serve) listens — an address to bind, or sockets
//! already bound.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};

/// Where [`serve`](crate::serve) listens: an address (`"0.0.0.0:443"`, `"[::]:443"`, a
/// [`SocketAddr`], `(ip, port)`), bound on TCP and UDP with
/// [`bind_same_port`](crate::bind_same_port), or a TCP listener and UDP socket you bound
/// yourself (to learn a port-0 address first, or from socket activation).
///
/// A host name is resolved when `serve` is called, and the first address it resolves to is
/// bound.
pub trait ServeAddr {
    /// The TCP listener and the UDP socket to serve on.
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)>;
}

/// A name that could not be resolved, in the `io::Error` [`ServeAddr::bind`] returns: the
/// resolver's error stays its `source()`.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve the address {addr}")]
struct ResolveError {
    addr: String,
    #[source]
    source: io::Error,
}

fn resolve(addr: impl ToSocketAddrs + std::fmt::Debug) -> io::Result<SocketAddr> {
    let first = addr
        .to_socket_addrs()
        .map_err(|source| {
            let addr = format!("{addr:?}");
            io::Error::new(source.kind(), ResolveError { addr, source })
        })?
        .next();
    first.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr:?} resolves to nothing"),
        )
    })
}

impl ServeAddr for SocketAddr {
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
        twinport_core::bind_same_port(self)
    }
}

impl ServeAddr for &str {
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
        twinport_core::bind_same_port(resolve(self)?)
    }
}

impl ServeAddr for String {
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
        self.as_str().bind()
    }
}

impl ServeAddr for &String {
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
        self.as_str().bind()
    }
}

macro_rules! ip_port {
    ($($ip:ty),*) => {$(
        impl ServeAddr for ($ip, u16) {
            fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
                twinport_core::bind_same_port(SocketAddr::from(self))
            }
        }
    )*};
}
ip_port!(IpAddr, Ipv4Addr, Ipv6Addr, [u8; 4], [u16; 8]);

impl ServeAddr for (TcpListener, UdpSocket) {
    fn bind(self) -> io::Result<(TcpListener, UdpSocket)> {
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_binds_both_on_one_port() {
        let forms = [
            "127.0.0.1:0".bind(),
            String::from("localhost:0").bind(),
            SocketAddr::from(([127, 0, 0, 1], 0)).bind(),
            ([127, 0, 0, 1], 0).bind(),
            (Ipv4Addr::LOCALHOST, 0).bind(),
        ];
        for bound in forms {
            let (tcp, udp) = bound.unwrap();
            assert_eq!(
                tcp.local_addr().unwrap().port(),
                udp.local_addr().unwrap().port()
            );
        }
    }

    #[test]
    fn a_bad_address_says_which() {
        let err = "not an address".bind().unwrap_err();
        assert!(err.to_string().contains("\"not an address\""), "{err}");
        // The resolver's reason is the source, not repeated in the message.
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            !cause.is_empty() && !err.to_string().contains(&cause),
            "{err}: {cause}"
        );
    }
}
