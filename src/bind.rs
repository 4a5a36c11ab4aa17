//! [`bind_same_port`]: a TCP listener and a UDP socket on one port.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tcp, udp) = twinport::bind_same_port("127.0.0.1:0".parse()?)?;
//! assert_eq!(tcp.local_addr()?.port(), udp.local_addr()?.port());
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;

/// Binds a TCP listener and a UDP socket on the same address and port, for serving HTTP/1.1
/// and HTTP/2 beside HTTP/3. With port 0, retries until a port is free on both. Binding
/// `[::]` accepts IPv4 too (dual-stack). Both are returned non-blocking, ready for tokio and
/// quinn.
///
/// On Unix the UDP socket has `SO_REUSEPORT`, so that HTTP/3 workers can join it; it is
/// bound only after checking that no other socket holds the port (a live `SO_REUSEPORT`
/// group of an old instance is never joined by accident).
pub fn bind_same_port(
    addr: SocketAddr,
) -> io::Result<(std::net::TcpListener, std::net::UdpSocket)> {
    const ATTEMPTS: usize = 64;
    let mut last_err = None;
    for _ in 0..ATTEMPTS {
        let tcp = bind_tcp(addr)?;
        let port = tcp.local_addr()?.port();
        match bind_udp(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_err = Some(e)
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    BindError::UdpAfterTcp { addr, source: e },
                ))
            }
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AddrInUse, "no port free on both TCP and UDP")
    }))
}

fn socket_for(
    addr: SocketAddr,
    ty: socket2::Type,
    proto: socket2::Protocol,
) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM, socket2::Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| bind_error("TCP", addr, e))?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The error of binding `addr` (`protocol`: `TCP`, `UDP`) that failed with `e`, saying
/// which address and, for a permission error on a port below 1024, what gives the right
/// (on Linux: the `CAP_NET_BIND_SERVICE` capability). For transports that bind sockets
/// themselves.
///
/// ```
/// use std::io;
/// let e = io::Error::from(io::ErrorKind::PermissionDenied);
/// let e = twinport::transport::bind_error("TCP", "0.0.0.0:443".parse().unwrap(), e);
/// assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
/// assert!(e.to_string().starts_with("cannot bind TCP 0.0.0.0:443"));
/// # #[cfg(target_os = "linux")]
/// assert!(e.to_string().contains("CAP_NET_BIND_SERVICE"));
/// // The OS's reason is the cause, printed once by an error reporter:
/// let chain = twinport::transport::ErrorChain::new(&e).to_string();
/// assert!(chain.ends_with(": permission denied"), "{chain}");
/// ```
pub fn bind_error(protocol: &str, addr: SocketAddr, e: io::Error) -> io::Error {
    let hint = privileged_hint(&e, addr.port());
    io::Error::new(
        e.kind(),
        BindError::Bind {
            protocol: protocol.to_owned(),
            addr,
            hint,
            source: e,
        },
    )
}

/// What [`bind_error`] and [`bind_same_port`] put in their `io::Error`, so that the OS's
/// error stays its `source()`.
#[derive(Debug, thiserror::Error)]
enum BindError {
    #[error("cannot bind {protocol} {addr}{hint}")]
    Bind {
        protocol: String,
        addr: SocketAddr,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("bound TCP {addr}, but not UDP on the same port")]
    UdpAfterTcp {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

fn privileged_hint(e: &io::Error, port: u16) -> &'static str {
    if e.kind() != io::ErrorKind::PermissionDenied || port == 0 || port >= 1024 {
        ""
    } else if cfg!(target_os = "linux") {
        " (ports below 1024 need the CAP_NET_BIND_SERVICE capability: run \
         `sudo setcap cap_net_bind_service=+ep BINARY`, or set \
         AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit, or bind a port \
         of 1024 or above)"
    } else {
        " (ports below 1024 need elevated privileges; or bind a port of 1024 or above)"
    }
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, socket2::Type::DGRAM, socket2::Protocol::UDP)?;
    if addr.port() != 0 {
        // Nothing may hold the port: with SO_REUSEPORT below, the bind would otherwise join
        // a live group (an old instance's) and share its packets.
        std::net::UdpSocket::bind(addr).map_err(|e| bind_error("UDP", addr, e))?;
    }
    // So that HTTP/3 workers can add their sockets to this one's group.
    #[cfg(all(
        unix,
        not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
    ))]
    socket.set_reuse_port(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| bind_error("UDP", addr, e))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_port_on_port_zero_and_dual_stack() {
        let (tcp, udp) = bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_eq!(
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port()
        );
        if let Ok((tcp6, udp6)) = bind_same_port("[::]:0".parse().unwrap()) {
            let port = tcp6.local_addr().unwrap().port();
            assert_eq!(port, udp6.local_addr().unwrap().port());
            // Dual-stack: an IPv4 client reaches the [::] listener.
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        }
    }

    #[test]
    fn a_taken_port_is_an_error_that_says_which() {
        let (tcp, _udp) = bind_same_port("127.0.0.1:0".parse().unwrap()).unwrap();
        let err = bind_same_port(tcp.local_addr().unwrap()).unwrap_err();
        assert!(err.to_string().contains("TCP"), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        twinport_testkit::errors::assert_typed_cause::<io::Error>(&err);
    }

    #[test]
    fn udp_failing_after_tcp_keeps_both_layers() {
        let os = io::Error::from(io::ErrorKind::AddrInUse);
        let os_text = os.to_string();
        let addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let udp = bind_error("UDP", addr, os);
        let e = io::Error::new(udp.kind(), BindError::UdpAfterTcp { addr, source: udp });
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(
            crate::error_chain::ErrorChain::new(&e).to_string(),
            format!(
                "bound TCP {addr}, but not UDP on the same port: cannot bind UDP {addr}: {os_text}"
            )
        );
        twinport_testkit::errors::assert_cause_once(&e, &os_text);
    }
}
