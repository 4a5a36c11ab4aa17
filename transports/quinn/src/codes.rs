//! The error codes twinport-quinn closes connections and resets streams with, by name.

use quinn::VarInt;

/// No error (RFC 9000 §20.1): how a connection that never finished its handshake is closed.
pub(crate) const QUIC_NO_ERROR: VarInt = VarInt::from_u32(0);
/// H3_NO_ERROR (RFC 9114 §8.1): a connection closed on purpose, at shutdown or when done.
pub(crate) const H3_NO_ERROR: VarInt = VarInt::from_u32(0x100);
/// H3_GENERAL_PROTOCOL_ERROR (RFC 9114 §8.1): here, a client certificate that rustls verified
/// but that cannot be read.
pub(crate) const H3_GENERAL_PROTOCOL_ERROR: VarInt = VarInt::from_u32(0x101);
/// H3_REQUEST_REJECTED (RFC 9114 §8.1): a request stream refused before any processing.
pub(crate) const H3_REQUEST_REJECTED: VarInt = VarInt::from_u32(0x10b);
/// H3_REQUEST_CANCELLED (RFC 9114 §8.1): a response given up (the client took none of it for
/// the write-stall timeout).
pub(crate) const H3_REQUEST_CANCELLED: VarInt = VarInt::from_u32(0x10c);
/// The TLS alert no_application_protocol (120) as QUIC carries it, 0x100 + 120 (RFC 9001 §4.8):
/// the client offered no ALPN protocol the endpoint serves.
pub(crate) const NO_APPLICATION_PROTOCOL: VarInt = VarInt::from_u32(0x178);
