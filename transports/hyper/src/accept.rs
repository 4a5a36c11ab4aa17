//! [`Acceptor`]: how an accepted stream becomes a ready connection, one decorator at a time.
//!
//! A [`Listener`](crate::Listener) hands out raw streams with a
//! [`ConnectionInfoBuilder`] holding their addresses. An acceptor takes both, may wrap the
//! stream (TLS, a PROXY header reader, ...) and may add to the builder, and gives back the new
//! stream and builder. Acceptors nest: [`TlsAcceptor`](crate::TlsAcceptor) and
//! [`ProxyProtocolAcceptor`](crate::ProxyProtocolAcceptor) each wrap an inner acceptor, run it
//! first, then do their own step. The innermost is [`DefaultAcceptor`], which changes nothing.
//!
//! [`Http`](crate::Http) runs the whole chain inside the connection's own task, under
//! [`HttpConfig::accept_timeout`](crate::HttpConfig::accept_timeout), so a slow handshake
//! never holds up the accept loop. An error closes that connection only, with a log line.
//!
//! The [crate docs](crate#writing-an-acceptor) show a complete acceptor of your own.

use std::fmt;
use std::future::{ready, Future, Ready};
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use twinport::transport::HandshakeFailure;
use twinport::{
    connection_info::CertificateError, connection_info::ConnectionInfoBuilder, BoxError,
};

use crate::proxy::ProxyError;

/// The boxed future most acceptors return: the ready stream and what is known about the
/// connection, or why it was refused.
pub type AcceptFuture<Io> =
    twinport::transport::BoxFuture<Result<(Io, ConnectionInfoBuilder), AcceptError>>;

/// Turns an accepted stream `I` and what is known about it into a ready connection.
///
/// See the [module docs](self). `accept` is called once per connection, in that connection's
/// task; the returned future owns what it needs (clone from `self`).
pub trait Acceptor<I>: Clone + Send + 'static {
    /// The stream after this step, e.g. a TLS stream over `I`.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The future doing the step.
    type Future: Future<Output = Result<(Self::Io, ConnectionInfoBuilder), AcceptError>>
        + Send
        + 'static;

    /// Does this step for one connection.
    fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future;

    /// Whether the connections this chain readies are encrypted: `Some(true)` when it does
    /// TLS, `Some(false)` when it is known not to, `None` (the default) when it cannot tell.
    /// An acceptor that wraps another answers for the inner one unless it adds TLS itself.
    /// [`Http`](crate::Http) reports it as [`Transport::uses_tls`](twinport::transport::Transport::uses_tls),
    /// so that a `twinport::Server` refuses plaintext beside HTTP/3.
    fn uses_tls(&self) -> Option<bool> {
        None
    }
}

/// An acceptor chain that hands on the client's own bytes, not yet inside TLS: where a PROXY
/// protocol header can still be read. [`Http::proxy_protocol`](crate::Http::proxy_protocol)
/// needs one, so that the header is never looked for inside TLS. Implement it for an acceptor
/// of your own that leaves the stream's bytes as they came.
pub trait BeforeTls {}

impl BeforeTls for DefaultAcceptor {}

impl<A: BeforeTls> BeforeTls for crate::ProxyProtocolAcceptor<A> {}

/// The acceptor that changes nothing: the innermost step of every chain.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultAcceptor;

impl DefaultAcceptor {
    /// The identity acceptor.
    pub fn new() -> Self {
        Self
    }
}

impl<I> Acceptor<I> for DefaultAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Io = I;
    type Future = Ready<Result<(I, ConnectionInfoBuilder), AcceptError>>;

    fn accept(&self, io: I, info: ConnectionInfoBuilder) -> Self::Future {
        ready(Ok((io, info)))
    }

    fn uses_tls(&self) -> Option<bool> {
        Some(false)
    }
}

/// Why one connection was closed before HTTP started on it.
///
/// These concern one client and never stop the server; [`Http`](crate::Http) logs them
/// (PROXY protocol failures at `warn`, since they point at a misconfigured balancer, the rest
/// at `debug`).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// Reading or writing the stream failed.
    #[error("I/O error on the connection")]
    Io(#[from] io::Error),
    /// A step took too long.
    #[error("{stage} timed out after {after:?}")]
    Timeout {
        /// Which step: `TLS handshake`, `PROXY header`, `accept`.
        stage: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// The TLS handshake failed (bad certificate, no shared protocol, not TLS at all, ...).
    #[error("TLS handshake failed")]
    Tls(#[source] io::Error),
    /// The client's certificate was verified by rustls but could not be parsed.
    #[error("unusable client certificate")]
    Certificate(#[from] CertificateError),
    /// The PROXY protocol header was missing or invalid.
    #[error("PROXY protocol header refused")]
    Proxy(#[from] ProxyError),
    /// An acceptor refused the connection on purpose (a deny list, a rate limit, ...).
    #[error("refused: {0}")]
    Refused(String),
    /// Anything else, from an acceptor of your own.
    #[error(transparent)]
    Other(BoxError),
}

/// The error, then each cause on its own line: what `main` prints when it returns one.
impl fmt::Debug for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        twinport::transport::ErrorChain::new(self).fmt_debug(f)
    }
}

impl AcceptError {
    /// A refusal with this reason, for acceptors that turn connections away on purpose.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Refused(reason.into())
    }

    /// The reason a handshake failed, as the metrics count it.
    pub(crate) fn failure(&self) -> HandshakeFailure {
        match self {
            Self::Io(_) => HandshakeFailure::Io,
            Self::Timeout { .. } => HandshakeFailure::Timeout,
            Self::Tls(e) => match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::NoApplicationProtocol) => HandshakeFailure::NoAlpn,
                Some(
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented,
                ) => HandshakeFailure::ClientCertificate,
                _ => HandshakeFailure::Tls,
            },
            Self::Certificate(_) => HandshakeFailure::ClientCertificate,
            Self::Proxy(_) => HandshakeFailure::ProxyHeader,
            Self::Refused(_) | Self::Other(_) => HandshakeFailure::Refused,
        }
    }

    /// Whether this is worth a warning rather than a debug line: a broken PROXY setup or an
    /// unparsable, yet verified, client certificate.
    pub(crate) fn is_warning(&self) -> bool {
        matches!(self, Self::Proxy(_) | Self::Certificate(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_prints_its_cause_once() {
        let io = || io::Error::other("connection reset");
        twinport_testkit::errors::assert_cause_once(&AcceptError::Io(io()), "connection reset");
        twinport_testkit::errors::assert_cause_once(&AcceptError::Tls(io()), "connection reset");
        let cert = CertificateError::EmptyChain;
        twinport_testkit::errors::assert_cause_once(&AcceptError::from(cert), "chain is empty");
        let proxy = ProxyError::TooLong;
        twinport_testkit::errors::assert_cause_once(&AcceptError::from(proxy), "longer than 107");
    }
}
