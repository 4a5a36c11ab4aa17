//! Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2, WebTransport over HTTP/3).

/// What a peer's unidirectional stream is, by the type at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UniStream {
    /// 0x00, the peer's control stream (RFC 9114 §6.2.1).
    Control,
    /// 0x01, a push stream (RFC 9114 §6.2.2): only servers open them, so from a client it is
    /// H3_STREAM_CREATION_ERROR.
    Push,
    /// 0x02, the peer's QPACK encoder stream (RFC 9204 §4.2).
    QpackEncoder,
    /// 0x03, the peer's QPACK decoder stream (RFC 9204 §4.2).
    QpackDecoder,
    /// 0x54, a WebTransport unidirectional stream (draft-ietf-webtrans-http3 §4.2); the
    /// session id follows.
    WebTransport,
    /// Anything else, reserved (0x1f * N + 0x21) or not: read and discard it, or stop it
    /// with H3_STREAM_CREATION_ERROR (RFC 9114 §6.2).
    Unknown(u64),
}

/// The stream type 0x00 (control).
pub(crate) const CONTROL: u64 = 0x00;
/// The stream type 0x01 (push).
pub(crate) const PUSH: u64 = 0x01;
/// The stream type 0x02 (QPACK encoder).
pub(crate) const QPACK_ENCODER: u64 = 0x02;
/// The stream type 0x03 (QPACK decoder).
pub(crate) const QPACK_DECODER: u64 = 0x03;
/// The stream type 0x54 (WebTransport unidirectional).
pub(crate) const WEBTRANSPORT: u64 = 0x54;

/// Classifies a stream type read from the front of a unidirectional stream.
pub(crate) fn classify(ty: u64) -> UniStream {
    match ty {
        CONTROL => UniStream::Control,
        PUSH => UniStream::Push,
        QPACK_ENCODER => UniStream::QpackEncoder,
        QPACK_DECODER => UniStream::QpackDecoder,
        WEBTRANSPORT => UniStream::WebTransport,
        other => UniStream::Unknown(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_defined_type_and_keeps_unknown_ones() {
        assert_eq!(classify(0x00), UniStream::Control);
        assert_eq!(classify(0x01), UniStream::Push);
        assert_eq!(classify(0x02), UniStream::QpackEncoder);
        assert_eq!(classify(0x03), UniStream::QpackDecoder);
        assert_eq!(classify(0x54), UniStream::WebTransport);
        assert_eq!(classify(0x21), UniStream::Unknown(0x21));
        assert_eq!(
            classify(0x1f * 7 + 0x21),
            UniStream::Unknown(0x1f * 7 + 0x21)
        );
    }
}
