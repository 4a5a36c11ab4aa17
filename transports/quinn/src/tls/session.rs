//! [`Session`]: quinn's crypto session over a rustls QUIC server connection that it keeps, so
//! the negotiated cipher suite and key-exchange group can be read after the handshake.

use std::any::Any;
use std::io::Cursor;
use std::sync::Arc;

use quinn_proto::crypto::{self, ExportKeyingMaterialError, HeaderKey, KeyPair, Keys, PacketKey};
use quinn_proto::transport_parameters::TransportParameters;
use quinn_proto::{ConnectionId, Side, TransportError, TransportErrorCode};
use rustls::pki_types::CertificateDer;
use rustls::quic::{Connection, KeyChange, Secrets, ServerConnection, Space, Version};

use super::{HandshakeData, ServerCrypto};

/// The QUIC versions quinn speaks, as rustls names them (RFC 9000 and the last drafts).
pub(super) fn rustls_version(version: u32) -> Option<Version> {
    match version {
        0xff00_001d..=0xff00_0020 => Some(Version::V1Draft),
        0x0000_0001 | 0xff00_0021..=0xff00_0022 => Some(Version::V1),
        _ => None,
    }
}

pub(super) struct Session {
    config: Arc<ServerCrypto>,
    version: u32,
    tls: Connection,
    got_handshake_data: bool,
    next_secrets: Option<Secrets>,
    /// The packet number space the client's handshake data arrives in: Initial until this
    /// side has sent its ServerHello (Handshake keys), then Handshake, then 1-RTT.
    space: Space,
}

impl Session {
    pub(super) fn new(config: Arc<ServerCrypto>, version: u32, params: Vec<u8>) -> Self {
        // quinn starts a session only for a version `initial_keys` accepted.
        let quic_version = rustls_version(version).unwrap_or(Version::V1);
        let tls = ServerConnection::new(config.rustls.clone(), quic_version, params)
            .expect("ServerCrypto::new checked that this configuration serves QUIC");
        Self {
            config,
            version,
            tls: Connection::Server(tls),
            got_handshake_data: false,
            next_secrets: None,
            space: Space::Initial,
        }
    }
}

impl Session {
    fn server_name(&self) -> Option<&str> {
        match &self.tls {
            Connection::Server(s) => s.server_name(),
            _ => None,
        }
    }
}

fn boxed(keys: rustls::quic::Keys) -> Keys {
    Keys {
        header: KeyPair {
            local: Box::new(keys.local.header),
            remote: Box::new(keys.remote.header),
        },
        packet: KeyPair {
            local: Box::new(keys.local.packet),
            remote: Box::new(keys.remote.packet),
        },
    }
}

impl crypto::Session for Session {
    fn initial_keys(&self, dst_cid: &ConnectionId, _side: Side) -> Keys {
        crypto::ServerConfig::initial_keys(&*self.config, self.version, dst_cid)
            .expect("the session's version was accepted before it started")
    }

    fn handshake_data(&self) -> Option<Box<dyn Any>> {
        if !self.got_handshake_data {
            return None;
        }
        Some(Box::new(HandshakeData {
            protocol: self.tls.alpn_protocol().map(<[u8]>::to_vec),
            server_name: self.server_name().map(str::to_owned),
            version: self.tls.protocol_version(),
            cipher_suite: self.tls.negotiated_cipher_suite().map(|s| s.suite()),
            key_exchange_group: self.tls.negotiated_key_exchange_group().map(|g| g.name()),
            resumed: self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
            early_data: self.tls.zero_rtt_keys().is_some(),
        }))
    }

    /// A `Vec<CertificateDer<'static>>`, as quinn's own session gives.
    fn peer_identity(&self) -> Option<Box<dyn Any>> {
        let chain = self.tls.peer_certificates()?;
        let owned: Vec<CertificateDer<'static>> =
            chain.iter().map(|c| c.clone().into_owned()).collect();
        Some(Box::new(owned))
    }

    fn early_crypto(&self) -> Option<(Box<dyn HeaderKey>, Box<dyn PacketKey>)> {
        let keys = self.tls.zero_rtt_keys()?;
        Some((Box::new(keys.header), Box::new(keys.packet)))
    }

    fn early_data_accepted(&self) -> Option<bool> {
        None
    }

    fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    fn read_handshake(&mut self, buf: &[u8]) -> Result<bool, TransportError> {
        if !self.tls.is_handshaking() {
            self.space = Space::ApplicationData;
        }
        if let Err(e) = self.tls.read_hs_in_space(buf, self.space) {
            return Err(match self.tls.alert() {
                Some(alert) => TransportError {
                    code: TransportErrorCode::crypto(alert.into()),
                    frame: None,
                    reason: e.to_string(),
                },
                None => TransportError {
                    code: TransportErrorCode::PROTOCOL_VIOLATION,
                    frame: None,
                    reason: format!("TLS error: {e}"),
                },
            });
        }
        // rustls has no signal for "the ClientHello is in": SNI, ALPN or the end of the
        // handshake is the first moment there is anything to report.
        let ready = self.server_name().is_some()
            || self.tls.alpn_protocol().is_some()
            || !self.tls.is_handshaking();
        if !self.got_handshake_data && ready {
            self.got_handshake_data = true;
            return Ok(true);
        }
        Ok(false)
    }

    fn transport_parameters(&self) -> Result<Option<TransportParameters>, TransportError> {
        let Some(params) = self.tls.quic_transport_parameters() else {
            return Ok(None);
        };
        let read = TransportParameters::read(Side::Server, &mut Cursor::new(params));
        Ok(Some(read?))
    }

    fn write_handshake(&mut self, buf: &mut Vec<u8>) -> Option<Keys> {
        match self.tls.write_hs(buf)? {
            KeyChange::Handshake { keys } => {
                self.space = Space::Handshake;
                Some(boxed(keys))
            }
            KeyChange::OneRtt { keys, next } => {
                self.next_secrets = Some(next);
                Some(boxed(keys))
            }
        }
    }

    fn next_1rtt_keys(&mut self) -> Option<KeyPair<Box<dyn PacketKey>>> {
        let keys = self.next_secrets.as_mut()?.next_packet_keys();
        Some(KeyPair {
            local: Box::new(keys.local),
            remote: Box::new(keys.remote),
        })
    }

    /// Only a client checks Retry packets.
    fn is_valid_retry(&self, _orig: &ConnectionId, _header: &[u8], _payload: &[u8]) -> bool {
        false
    }

    fn export_keying_material(
        &self,
        output: &mut [u8],
        label: &[u8],
        context: &[u8],
    ) -> Result<(), ExportKeyingMaterialError> {
        self.tls
            .export_keying_material(output, label, Some(context))
            .map(|_| ())
            .map_err(|_| ExportKeyingMaterialError)
    }
}
