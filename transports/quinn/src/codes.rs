//! The error codes twinport-quinn closes connections and resets streams with, by name: the one
//! table of them in this crate, in the form quinn takes (the test kit keeps its own public
//! copy, as a peer sees them, since this one is private).

use quinn::VarInt;

/// No error (RFC 9000 §20.1): how a connection that never finished its handshake is closed.
pub(crate) const QUIC_NO_ERROR: VarInt = VarInt::from_u32(0);
/// H3_NO_ERROR (RFC 9114 §8.1): a connection closed on purpose, at shutdown or when done.
pub(crate) const H3_NO_ERROR: VarInt = VarInt::from_u32(0x100);
/// H3_GENERAL_PROTOCOL_ERROR (RFC 9114 §8.1): here, a client certificate that rustls verified
/// but that cannot be read, or a datagram from a client the server enabled none for (RFC 9297
/// §2.1.1 names no code of its own).
pub(crate) const H3_GENERAL_PROTOCOL_ERROR: VarInt = VarInt::from_u32(0x101);
/// H3_REQUEST_REJECTED (RFC 9114 §8.1): a request stream refused before any processing.
pub(crate) const H3_REQUEST_REJECTED: VarInt = VarInt::from_u32(0x10b);
/// The TLS alert no_application_protocol (120) as QUIC carries it, 0x100 + 120 (RFC 9001 §4.8):
/// the client offered no ALPN protocol the endpoint serves.
pub(crate) const NO_APPLICATION_PROTOCOL: VarInt = VarInt::from_u32(0x178);

/// H3_INTERNAL_ERROR (RFC 9114 §8.1): an internal error in the HTTP stack.
pub(crate) const H3_INTERNAL_ERROR: VarInt = VarInt::from_u32(0x102);
/// H3_STREAM_CREATION_ERROR (RFC 9114 §8.1): the peer created a stream it may not create.
pub(crate) const H3_STREAM_CREATION_ERROR: VarInt = VarInt::from_u32(0x103);
/// H3_CLOSED_CRITICAL_STREAM (RFC 9114 §8.1): a stream the connection needs was closed or reset.
pub(crate) const H3_CLOSED_CRITICAL_STREAM: VarInt = VarInt::from_u32(0x104);
/// H3_FRAME_UNEXPECTED (RFC 9114 §8.1): a frame not allowed in the stream's state or type.
pub(crate) const H3_FRAME_UNEXPECTED: VarInt = VarInt::from_u32(0x105);
/// H3_FRAME_ERROR (RFC 9114 §8.1): a frame that breaks the layout or size rules.
pub(crate) const H3_FRAME_ERROR: VarInt = VarInt::from_u32(0x106);
/// H3_EXCESSIVE_LOAD (RFC 9114 §8.1): the peer generates excessive load (here: a frame or
/// field section over our limit).
pub(crate) const H3_EXCESSIVE_LOAD: VarInt = VarInt::from_u32(0x107);
/// H3_ID_ERROR (RFC 9114 §8.1): a stream or push id used wrongly.
pub(crate) const H3_ID_ERROR: VarInt = VarInt::from_u32(0x108);
/// H3_SETTINGS_ERROR (RFC 9114 §8.1): an error in a SETTINGS frame's payload.
pub(crate) const H3_SETTINGS_ERROR: VarInt = VarInt::from_u32(0x109);
/// H3_MISSING_SETTINGS (RFC 9114 §8.1): the control stream did not start with SETTINGS.
pub(crate) const H3_MISSING_SETTINGS: VarInt = VarInt::from_u32(0x10a);
/// H3_REQUEST_CANCELLED (RFC 9114 §8.1): a response given up (the client took none of it for
/// the write-stall timeout).
pub(crate) const H3_REQUEST_CANCELLED: VarInt = VarInt::from_u32(0x10c);
/// H3_REQUEST_INCOMPLETE (RFC 9114 §8.1): a request stream ended before the request did.
pub(crate) const H3_REQUEST_INCOMPLETE: VarInt = VarInt::from_u32(0x10d);
/// H3_MESSAGE_ERROR (RFC 9114 §8.1): a malformed message (§4.1.2).
pub(crate) const H3_MESSAGE_ERROR: VarInt = VarInt::from_u32(0x10e);
/// H3_CONNECT_ERROR (RFC 9114 §8.1): the CONNECT tunnel was reset or closed abnormally.
pub(crate) const H3_CONNECT_ERROR: VarInt = VarInt::from_u32(0x10f);
/// H3_VERSION_FALLBACK (RFC 9114 §8.1): retry the request over HTTP/1.1.
#[allow(dead_code)]
pub(crate) const H3_VERSION_FALLBACK: VarInt = VarInt::from_u32(0x110);
/// QPACK_DECOMPRESSION_FAILED (RFC 9204 §6): a field section we cannot decode.
pub(crate) const QPACK_DECOMPRESSION_FAILED: VarInt = VarInt::from_u32(0x200);
/// QPACK_ENCODER_STREAM_ERROR (RFC 9204 §6): a bad instruction on the peer's encoder stream.
pub(crate) const QPACK_ENCODER_STREAM_ERROR: VarInt = VarInt::from_u32(0x201);
/// QPACK_DECODER_STREAM_ERROR (RFC 9204 §6): a bad instruction on the peer's decoder stream.
pub(crate) const QPACK_DECODER_STREAM_ERROR: VarInt = VarInt::from_u32(0x202);
/// H3_DATAGRAM_ERROR (RFC 9297 §5.2): a malformed HTTP datagram or capsule.
pub(crate) const H3_DATAGRAM_ERROR: VarInt = VarInt::from_u32(0x33);

/// The name of a code this crate sends, for the metrics' labels; `_OTHER` for any other.
pub(crate) fn name(code: VarInt) -> &'static str {
    const NAMES: [(VarInt, &str); 21] = [
        (QUIC_NO_ERROR, "NO_ERROR"),
        (H3_NO_ERROR, "H3_NO_ERROR"),
        (H3_GENERAL_PROTOCOL_ERROR, "H3_GENERAL_PROTOCOL_ERROR"),
        (H3_INTERNAL_ERROR, "H3_INTERNAL_ERROR"),
        (H3_STREAM_CREATION_ERROR, "H3_STREAM_CREATION_ERROR"),
        (H3_CLOSED_CRITICAL_STREAM, "H3_CLOSED_CRITICAL_STREAM"),
        (H3_FRAME_UNEXPECTED, "H3_FRAME_UNEXPECTED"),
        (H3_FRAME_ERROR, "H3_FRAME_ERROR"),
        (H3_EXCESSIVE_LOAD, "H3_EXCESSIVE_LOAD"),
        (H3_ID_ERROR, "H3_ID_ERROR"),
        (H3_SETTINGS_ERROR, "H3_SETTINGS_ERROR"),
        (H3_MISSING_SETTINGS, "H3_MISSING_SETTINGS"),
        (H3_REQUEST_REJECTED, "H3_REQUEST_REJECTED"),
        (H3_REQUEST_CANCELLED, "H3_REQUEST_CANCELLED"),
        (H3_REQUEST_INCOMPLETE, "H3_REQUEST_INCOMPLETE"),
        (H3_MESSAGE_ERROR, "H3_MESSAGE_ERROR"),
        (H3_CONNECT_ERROR, "H3_CONNECT_ERROR"),
        (QPACK_DECOMPRESSION_FAILED, "QPACK_DECOMPRESSION_FAILED"),
        (QPACK_ENCODER_STREAM_ERROR, "QPACK_ENCODER_STREAM_ERROR"),
        (QPACK_DECODER_STREAM_ERROR, "QPACK_DECODER_STREAM_ERROR"),
        (H3_DATAGRAM_ERROR, "H3_DATAGRAM_ERROR"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("_OTHER", |(_, name)| name)
}
