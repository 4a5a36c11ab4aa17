//! The errors of this crate: [`Error`] when building or running an endpoint, [`BodyError`]
//! when reading a request body.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why an endpoint could not be built or stopped serving.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS configuration could not be made.
    #[error("cannot make the TLS configuration")]
    Tls(#[from] twinport::TlsError),
    /// The TLS configuration has no cipher suite QUIC can use for its initial packets
    /// (QUIC needs a TLS 1.3 `TLS13_AES_128_GCM_SHA256` suite in the crypto provider).
    #[error("the TLS configuration cannot be used for QUIC")]
    QuicTls(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// rustls refuses the TLS configuration for QUIC (no TLS 1.3, say).
    #[error("the TLS configuration cannot be used for QUIC")]
    QuicTlsConfig(#[source] rustls::Error),
    /// The UDP socket could not be bound or set up.
    #[error("cannot bind UDP {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// With several workers, the address is already held by another socket: a live
    /// `SO_REUSEPORT` group (an old instance, say), which twinport does not join by accident.
    #[error("UDP {addr} is in use by another socket; twinport does not join a live SO_REUSEPORT group: stop the other process first, or hand this one the socket (socket activation)")]
    AddressInUse {
        /// The address.
        addr: SocketAddr,
        /// The I/O error of the check.
        #[source]
        source: io::Error,
    },
    /// The connection-ID settings (server ID, nonce length) are out of range.
    #[error("invalid connection ID settings")]
    ConnectionIds(#[from] crate::fleet::CidError),
    /// The QUIC endpoint could not start on the socket.
    #[error("cannot start the QUIC endpoint")]
    Endpoint(#[source] io::Error),
    /// A transport setting is out of range.
    #[error("invalid QUIC setting {name}: {reason}")]
    Config {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A transport setting does not fit QUIC's variable-length integers.
    #[error("QUIC setting {name} is too large")]
    OutOfRange {
        /// The setting.
        name: &'static str,
        /// quinn's error.
        #[source]
        source: quinn::VarIntBoundsExceeded,
    },
    /// The same ALPN protocol was registered twice.
    #[error("ALPN protocol {0:?} is registered twice")]
    DuplicateAlpn(String),
    /// An ALPN protocol name was empty or longer than 255 bytes.
    #[error("invalid ALPN protocol name {0:?}: it must be 1 to 255 bytes")]
    InvalidAlpn(String),
    /// Neither HTTP/3 nor any raw protocol was registered.
    #[error("no protocol to serve: call Builder::http3 or Builder::route")]
    NoProtocols,
    /// A WebTransport path does not start with `/` or is not a valid URI path.
    #[error("invalid WebTransport path {0:?}: it must be a URI path starting with '/'")]
    InvalidWebTransportPath(String),
    /// The same WebTransport path was registered twice.
    #[error("WebTransport path {0:?} is registered twice")]
    DuplicateWebTransportPath(String),
    /// WebTransport handlers were registered but HTTP/3 was not.
    #[error("WebTransport needs HTTP/3: call Builder::http3 too")]
    WebTransportWithoutHttp3,
    /// There is no tokio runtime to run the endpoint on, or it lacks I/O or timers.
    #[error(transparent)]
    Runtime(#[from] twinport::transport::RuntimeError),
}

/// The error, then each cause on its own line: what `main` prints when it returns one.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        twinport::transport::ErrorChain::new(self).fmt_debug(f)
    }
}

/// Why a request body could not be read to its end.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The client reset the request stream (it cancelled the request).
    #[error("the client reset the request stream with code {code:#x}")]
    Reset {
        /// The HTTP/3 error code the client sent.
        code: u64,
    },
    /// The connection was lost or closed.
    #[error("the connection closed")]
    ConnectionClosed {
        /// What closed it.
        #[source]
        source: quinn::ReadError,
    },
    /// The client sent nothing for
    /// [`Http3Config::body_idle_timeout`](crate::Http3Config::body_idle_timeout) while the
    /// body was waited on; the stream was stopped with `H3_REQUEST_INCOMPLETE`.
    #[error("the client sent no body data for {after:?}")]
    TimedOut {
        /// The limit.
        after: std::time::Duration,
    },
    /// The client broke the HTTP/3 protocol on this stream.
    #[error("HTTP/3 error on the request stream: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_prints_its_cause_once() {
        let tls = Error::Tls(twinport::TlsError::NoCertificates);
        twinport_testkit::errors::assert_cause_once(&tls, "no certificates");
        let bind = Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 443)),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        assert_eq!(bind.to_string(), "cannot bind UDP 127.0.0.1:443");
        let in_use = io::Error::from(io::ErrorKind::AddrInUse).to_string();
        twinport_testkit::errors::assert_cause_once(&bind, &in_use);
        let endpoint = Error::Endpoint(io::Error::other("no buffers"));
        twinport_testkit::errors::assert_cause_once(&endpoint, "no buffers");
        let refused = Error::QuicTlsConfig(rustls::Error::General("no TLS 1.3".into()));
        twinport_testkit::errors::assert_cause_once(&refused, "no TLS 1.3");
    }

    #[test]
    fn an_out_of_range_setting_keeps_quinn_error() {
        let config = crate::QuicConfig::default().receive_window(u64::MAX);
        let e = config.transport().unwrap_err();
        assert_eq!(e.to_string(), "QUIC setting receive_window is too large");
        twinport_testkit::errors::assert_typed_cause::<quinn::VarIntBoundsExceeded>(&e);
    }

    #[test]
    fn a_lost_connection_keeps_quinn_error() {
        let lost = quinn::ReadError::ConnectionLost(quinn::ConnectionError::TimedOut);
        let e = BodyError::ConnectionClosed { source: lost };
        assert_eq!(e.to_string(), "the connection closed");
        twinport_testkit::errors::assert_typed_cause::<quinn::ReadError>(&e);
    }
}
