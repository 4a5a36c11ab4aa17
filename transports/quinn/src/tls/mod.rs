//! The QUIC side of TLS: a [`quinn_proto::crypto::ServerConfig`] whose sessions keep the rustls
//! connection, so every fact the handshake negotiated reaches [`HandshakeData`].
//!
//! quinn's own rustls session shows only ALPN and SNI; this one adds the TLS version, cipher
//! suite and key-exchange group, which [`twinport::connection_info::TlsInfo`] carries on HTTP/3 as on TCP.
//! Initial keys and Retry tags come from quinn's config unchanged.

mod session;

use std::sync::Arc;

use quinn::crypto::rustls::QuicServerConfig;
use quinn_proto::crypto::{self, Keys, UnsupportedVersion};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::ConnectionId;
use rustls::{CipherSuite, NamedGroup, ProtocolVersion};

use crate::Error;
use session::Session;

/// What a QUIC handshake negotiated: `quinn::Connection::handshake_data` of a connection
/// served by twinport-quinn is this type.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct HandshakeData {
    /// The negotiated application protocol (ALPN).
    pub protocol: Option<Vec<u8>>,
    /// The server name (SNI) the client asked for.
    pub server_name: Option<String>,
    /// The TLS version (1.3 for QUIC), once negotiated.
    pub version: Option<ProtocolVersion>,
    /// The negotiated cipher suite.
    pub cipher_suite: Option<CipherSuite>,
    /// The negotiated key-exchange group.
    pub key_exchange_group: Option<NamedGroup>,
    /// Whether the client resumed an earlier session.
    pub resumed: bool,
    /// Whether the server took the client's early data (0-RTT).
    pub early_data: bool,
}

/// quinn's rustls server config, with sessions that report every negotiated TLS fact.
pub(crate) struct ServerCrypto {
    quinn: QuicServerConfig,
    rustls: Arc<rustls::ServerConfig>,
}

impl ServerCrypto {
    /// Checks that `config` can serve QUIC: an initial cipher suite, TLS 1.3, a valid
    /// early-data size.
    pub(crate) fn new(config: rustls::ServerConfig) -> Result<Self, Error> {
        let rustls = Arc::new(config);
        let quinn = QuicServerConfig::try_from(rustls.clone())?;
        rustls::quic::ServerConnection::new(rustls.clone(), rustls::quic::Version::V1, Vec::new())
            .map_err(Error::QuicTlsConfig)?;
        Ok(Self { quinn, rustls })
    }
}

impl crypto::ServerConfig for ServerCrypto {
    fn initial_keys(
        &self,
        version: u32,
        dst_cid: &ConnectionId,
    ) -> Result<Keys, UnsupportedVersion> {
        self.quinn.initial_keys(version, dst_cid)
    }

    fn retry_tag(&self, version: u32, orig_dst_cid: &ConnectionId, packet: &[u8]) -> [u8; 16] {
        self.quinn.retry_tag(version, orig_dst_cid, packet)
    }

    fn start_session(
        self: Arc<Self>,
        version: u32,
        params: &TransportParameters,
    ) -> Box<dyn crypto::Session> {
        let mut encoded = Vec::new();
        params.write(&mut encoded);
        Box::new(Session::new(self, version, encoded))
    }
}
