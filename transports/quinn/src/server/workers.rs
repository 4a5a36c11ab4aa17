//! The UDP sockets of an endpoint's workers: one socket per worker in one `SO_REUSEPORT`
//! group, and how the kernel is told to steer packets among them by connection ID.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

/// How received packets reach the worker that owns their connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Steering {
    /// In the kernel (Linux): a classic BPF program attached to the `SO_REUSEPORT` group
    /// reads the worker byte of each packet's connection ID; a client's first packets carry
    /// an ID of its own choosing, and go where the kernel's hash of the addresses sends them
    /// (or, when that ID has this server's length, where its byte in the worker's place
    /// says: the same for all of them, so they reach one worker either way). When the program
    /// cannot be attached (another OS, or the kernel refuses it), the endpoint warns and
    /// falls back to [`Forwarder`](Self::Forwarder). The default.
    #[default]
    Kernel,
    /// In user space: the kernel spreads packets by its hash of the addresses, and a worker
    /// that receives a packet naming another worker hands it over through a bounded queue
    /// (dropped and counted when full). A client's Initial and 0-RTT packets are never
    /// handed over: the worker that gets them answers them.
    Forwarder,
}

/// Binds `workers` UDP sockets to `addr` in one new `SO_REUSEPORT` group.
///
/// A group that already exists on `addr` (another process, or an old instance that did not
/// exit) is never joined: the kernel would spread this instance's packets over both, and the
/// old sockets' steering would keep sending to them. Start is refused instead; a restart that
/// keeps the sockets hands them over (socket activation, [`Builder::socket`]).
///
/// [`Builder::socket`]: super::Builder::socket
pub(super) fn bind_group(addr: SocketAddr, workers: usize) -> Result<Vec<UdpSocket>, Error> {
    let bind_error = |addr, source| Error::Bind { addr, source };
    // Without SO_REUSEPORT, this bind fails if anything holds the address; with port 0 it
    // picks a port nothing holds (the kernel's choice for a SO_REUSEPORT socket could be a
    // port a group of the same user already has).
    let addr = match UdpSocket::bind(addr) {
        Ok(probe) => probe.local_addr().map_err(|e| bind_error(addr, e))?,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            return Err(Error::AddressInUse { addr, source: e })
        }
        Err(e) => return Err(bind_error(addr, e)),
    };
    let mut sockets = Vec::with_capacity(workers);
    let mut at = addr;
    for _ in 0..workers {
        let socket = reuseport_socket(at).map_err(|e| bind_error(at, e))?;
        at = socket.local_addr().map_err(|e| bind_error(at, e))?;
        sockets.push(socket);
    }
    Ok(sockets)
}

fn reuseport_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    set_reuse_port(&socket)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
fn set_reuse_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_port(true)
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
fn set_reuse_port(_socket: &Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "several workers need SO_REUSEPORT, which this platform does not have",
    ))
}

/// Whether `socket` is in a `SO_REUSEPORT` group (an inherited socket others may join).
#[cfg(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
))]
pub(super) fn reuses_port(socket: &UdpSocket) -> bool {
    socket2::SockRef::from(socket).reuse_port().unwrap_or(false)
}

#[cfg(not(all(
    unix,
    not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
)))]
pub(super) fn reuses_port(_socket: &UdpSocket) -> bool {
    false
}

/// Adds `more` sockets to the group of an inherited socket (which has `SO_REUSEPORT`).
pub(super) fn join_group(first: &UdpSocket, more: usize) -> Result<Vec<UdpSocket>, Error> {
    let addr = first.local_addr().map_err(|source| Error::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    (0..more)
        .map(|_| reuseport_socket(addr).map_err(|source| Error::Bind { addr, source }))
        .collect()
}

/// Attaches the steering program to the group of `socket` (the kernel keeps one per group).
#[cfg(target_os = "linux")]
pub(super) fn attach_steering(
    socket: &UdpSocket,
    layout: &crate::fleet::CidLayout,
) -> io::Result<()> {
    let mut program = crate::fleet::steer::steering_program(layout);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).map_err(|_| io::ErrorKind::InvalidInput)?,
        filter: program.as_mut_ptr(),
    };
    nix::sys::socket::setsockopt(
        socket,
        nix::sys::socket::sockopt::AttachReusePortCbpf,
        &fprog,
    )
    .map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn attach_steering(
    _socket: &UdpSocket,
    _layout: &crate::fleet::CidLayout,
) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "steering in the kernel needs Linux",
    ))
}
