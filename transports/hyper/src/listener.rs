//! [`Listener`]: where [`Http`](crate::Http) gets its connections from.
//!
//! Implemented for tokio's [`TcpListener`] (with `TCP_NODELAY` switched on for every accepted
//! stream) and [`UnixListener`]. A std `TcpListener`, such as the one
//! [`twinport::bind_same_port`] returns, goes through [`Http::from_std`](crate::Http::from_std).

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use twinport::{
    connection_info::ConnectionInfoBuilder, connection_info::TransportKind, ConnectionInfo,
};

/// A source of connections: a socket that accepts streams.
///
/// Each accepted stream comes with a [`ConnectionInfoBuilder`] that records what the listener
/// knows, typically the local and remote addresses. Errors are passed to
/// [`Http`](crate::Http), which logs them and retries with back-off; they never end the
/// server.
pub trait Listener: Send + 'static {
    /// The accepted stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Polls for the next connection.
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, ConnectionInfoBuilder)>>;

    /// The address it listens on, when it has a socket address.
    fn local_addr(&self) -> Option<SocketAddr>;

    /// A short name for logs, such as `tcp` or `unix`.
    fn name(&self) -> &'static str {
        "custom"
    }
}

/// `TCP_NODELAY` is switched on for each stream: with Nagle's algorithm on, HTTP/2 responses
/// stall on delayed ACKs (tens of milliseconds per response). An acceptor of your own can
/// switch it off again with [`TcpStream::set_nodelay`].
impl Listener for TcpListener {
    type Io = TcpStream;

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, ConnectionInfoBuilder)>> {
        let (stream, remote) = match TcpListener::poll_accept(self, cx) {
            Poll::Ready(Ok(accepted)) => accepted,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %remote, "cannot set TCP_NODELAY");
        }
        let mut info = ConnectionInfo::builder(TransportKind::Tcp).remote_addr(remote);
        // The stream's own address is the precise one when bound to 0.0.0.0 or [::].
        if let Some(local) = stream
            .local_addr()
            .ok()
            .or_else(|| TcpListener::local_addr(self).ok())
        {
            info = info.local_addr(local);
        }
        Poll::Ready(Ok((stream, info)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        TcpListener::local_addr(self).ok()
    }

    fn name(&self) -> &'static str {
        "tcp"
    }
}

/// Connections are described as [`TransportKind::Unix`], without addresses.
impl Listener for UnixListener {
    type Io = UnixStream;

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, ConnectionInfoBuilder)>> {
        UnixListener::poll_accept(self, cx)
            .map_ok(|(stream, _)| (stream, ConnectionInfo::builder(TransportKind::Unix)))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn name(&self) -> &'static str {
        "unix"
    }
}
