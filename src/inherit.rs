//! [`inherited_sockets`]: the TCP listener and UDP socket handed to this process by systemd
//! socket activation (`LISTEN_FDS`, `LISTEN_FDNAMES`) or by a parent such as `systemfd`, so
//! that a new binary serves on the sockets of the one it replaces.

use std::io;
use std::net::{TcpListener, UdpSocket};

/// The TCP listener and the UDP socket this process was started with, if it was started
/// with sockets (`LISTEN_FDS`; read with the `listenfd` crate, which honours `LISTEN_PID`).
///
/// With `name`, only the sockets that systemd names so (`FileDescriptorName=` in the
/// `.socket` unit, passed in `LISTEN_FDNAMES`) are taken; without it, the first TCP listener
/// and the first UDP socket. Both are returned non-blocking, ready for
/// `twinport::serve` as `(tcp, udp)`, or for [`Server`](crate::Server)'s transports.
///
/// `Ok(None)`: the process was not given sockets. An error: it was, but not one TCP
/// listener and one UDP socket (the message says what was found).
///
/// `LISTEN_FDS` and `LISTEN_PID` are removed from the environment once read (not
/// `LISTEN_FDNAMES`), so that child processes do not take the sockets again: call this early
/// in `main`, before other threads read the environment. Descriptors it does not take stay
/// open.
pub fn inherited_sockets(name: Option<&str>) -> io::Result<Option<(TcpListener, UdpSocket)>> {
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|v| v.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let wanted = |index: usize| match name {
        None => true,
        Some(name) => names.get(index).is_some_and(|n| n == name),
    };
    let (mut tcp, mut udp) = (None, None);
    for index in 0..fds.len() {
        if !wanted(index) {
            continue;
        }
        if tcp.is_none() {
            if let Ok(Some(listener)) = fds.take_tcp_listener(index) {
                tcp = Some(listener);
                continue;
            }
        }
        if udp.is_none() {
            if let Ok(Some(socket)) = fds.take_udp_socket(index) {
                udp = Some(socket);
            }
        }
    }
    let named = name.map_or(String::new(), |n| format!(" named {n:?}"));
    match (tcp, udp) {
        (Some(tcp), Some(udp)) => {
            tcp.set_nonblocking(true)?;
            udp.set_nonblocking(true)?;
            Ok(Some((tcp, udp)))
        }
        (tcp, udp) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "this process was given {} socket(s) (LISTEN_FDS){}, but not a TCP listener \
                 and a UDP socket{named}: found {}",
                fds.len(),
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" named {}", names.join(", "))
                },
                match (tcp.is_some(), udp.is_some()) {
                    (true, false) => "a TCP listener only",
                    (false, true) => "a UDP socket only",
                    _ => "neither",
                }
            ),
        )),
    }
}
