//! The TLS side of a connection: [`TlsInfo`], made with a [`TlsInfoBuilder`] (or read from a
//! finished rustls handshake), with the client's [`PeerCertificate`] when it presented one.
//!
//! ```
//! use twinport::connection_info::TlsInfo;
//! use twinport::rustls::ProtocolVersion;
//!
//! let tls = TlsInfo::builder()
//!     .server_name("example.com")
//!     .version(ProtocolVersion::TLSv1_3)
//!     .build();
//! assert_eq!(tls.server_name(), Some("example.com"));
//! assert_eq!(tls.version_str(), Some("TLSv1.3"));
//! assert!(tls.peer_certificate().is_none());
//! ```

use rustls::{CipherSuite, NamedGroup, ProtocolVersion};

use crate::peer_certificate::{CertificateError, PeerCertificate};

/// The TLS session of a connection: SNI, version, cipher suite, key-exchange group and the
/// client's verified certificate, the same on HTTP/1.1, HTTP/2 and HTTP/3. Read from a finished handshake with [`from_connection`](Self::from_connection),
/// or made with [`TlsInfo::builder`] by a transport that does its own TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    server_name: Option<String>,
    version: Option<ProtocolVersion>,
    cipher_suite: Option<CipherSuite>,
    key_exchange_group: Option<NamedGroup>,
    peer: Option<PeerCertificate>,
    resumed: bool,
}

impl TlsInfo {
    /// Starts describing a TLS session; every part is unknown until set.
    pub fn builder() -> TlsInfoBuilder {
        TlsInfoBuilder {
            info: Self::default(),
        }
    }

    /// Reads what a finished rustls handshake negotiated. A client certificate chain, which
    /// rustls has already verified, is parsed here.
    pub fn from_connection(conn: &rustls::ServerConnection) -> Result<Self, CertificateError> {
        let peer = match conn.peer_certificates() {
            Some(chain) if !chain.is_empty() => Some(PeerCertificate::from_chain(chain.to_vec())?),
            _ => None,
        };
        Ok(Self {
            server_name: conn.server_name().map(str::to_owned),
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
            key_exchange_group: conn.negotiated_key_exchange_group().map(|g| g.name()),
            peer,
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        })
    }

    /// Whether the client resumed an earlier session (a session ticket: no certificate
    /// exchange, and early data possible).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The server name (SNI) the client asked for.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The negotiated TLS version (QUIC is always TLS 1.3).
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The negotiated TLS version as text, e.g. `TLSv1.3`.
    pub fn version_str(&self) -> Option<&'static str> {
        match self.version? {
            ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            other => other.as_str(),
        }
    }

    /// The negotiated cipher suite, when the transport exposes it.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.cipher_suite
    }

    /// The negotiated cipher suite as text, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub fn cipher_suite_str(&self) -> Option<&'static str> {
        self.cipher_suite.and_then(|c| c.as_str())
    }

    /// The negotiated key-exchange group, e.g. `X25519MLKEM768` (post-quantum hybrid) or
    /// `X25519`. Unknown for a TLS 1.2 session resumed without a new key exchange.
    pub fn key_exchange_group(&self) -> Option<NamedGroup> {
        self.key_exchange_group
    }

    /// The negotiated key-exchange group as text, e.g. `X25519MLKEM768`.
    pub fn key_exchange_group_str(&self) -> Option<&'static str> {
        self.key_exchange_group.and_then(|g| g.as_str())
    }

    /// The client's verified certificate chain and parsed leaf, when it presented one.
    pub fn peer_certificate(&self) -> Option<&PeerCertificate> {
        self.peer.as_ref()
    }
}

/// Builds a [`TlsInfo`]; see [`TlsInfo::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TlsInfoBuilder {
    info: TlsInfo,
}

impl TlsInfoBuilder {
    /// The server name (SNI) the client asked for.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.info.server_name = Some(name.into());
        self
    }

    /// The negotiated TLS version.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.info.version = Some(version);
        self
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(mut self, suite: CipherSuite) -> Self {
        self.info.cipher_suite = Some(suite);
        self
    }

    /// The negotiated key-exchange group.
    pub fn key_exchange_group(mut self, group: NamedGroup) -> Self {
        self.info.key_exchange_group = Some(group);
        self
    }

    /// The client's verified certificate.
    pub fn peer_certificate(mut self, peer: PeerCertificate) -> Self {
        self.info.peer = Some(peer);
        self
    }

    /// Whether the client resumed an earlier session.
    pub fn resumed(mut self, resumed: bool) -> Self {
        self.info.resumed = resumed;
        self
    }

    /// The finished description.
    pub fn build(self) -> TlsInfo {
        self.info
    }
}

#[cfg(feature = "serde")]
mod ser {
    use super::TlsInfo;
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    impl Serialize for TlsInfo {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("TlsInfo", 6)?;
            st.serialize_field("server_name", &self.server_name())?;
            st.serialize_field("version", &self.version_str())?;
            st.serialize_field("cipher_suite", &self.cipher_suite_str())?;
            st.serialize_field("key_exchange_group", &self.key_exchange_group_str())?;
            st.serialize_field("client_certificate", &self.peer_certificate())?;
            st.serialize_field("resumed", &self.resumed())?;
            st.end()
        }
    }
}
