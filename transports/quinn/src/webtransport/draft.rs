//! [`WebTransportDraft`]: which draft of WebTransport over HTTP/3 a connection speaks, chosen
//! from the client's SETTINGS.

use std::fmt;

use crate::proto::settings::{self as ids, Settings};

/// The draft of WebTransport over HTTP/3 (draft-ietf-webtrans-http3) a session speaks.
///
/// The server offers draft-02 and draft-07 in its SETTINGS; the highest draft the client
/// offers too is used for every session of the connection (draft-07 when the client sent
/// `SETTINGS_WEBTRANSPORT_MAX_SESSIONS`, else draft-02 when it sent
/// `SETTINGS_ENABLE_WEBTRANSPORT = 1`). Draft-13 and later are not offered: they need the
/// QUIC `RESET_STREAM_AT` extension, which quinn does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum WebTransportDraft {
    /// draft-ietf-webtrans-http3-02 (Firefox, aioquic, Chromium by default).
    Draft02,
    /// draft-ietf-webtrans-http3-07 (Chromium with `EnableWebTransportDraft07`, the
    /// `wtransport` crate).
    Draft07,
}

impl WebTransportDraft {
    /// The draft's short name: `"draft-02"` or `"draft-07"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft02 => "draft-02",
            Self::Draft07 => "draft-07",
        }
    }

    /// The highest draft both the server and a client with `settings` speak, or `None` if the
    /// client announced no WebTransport draft the server speaks.
    pub(crate) fn negotiate(settings: &Settings) -> Option<Self> {
        if settings
            .get(ids::WEBTRANSPORT_MAX_SESSIONS)
            .is_some_and(|n| n > 0)
        {
            return Some(Self::Draft07);
        }
        if settings.get(ids::ENABLE_WEBTRANSPORT) == Some(1) {
            return Some(Self::Draft02);
        }
        None
    }
}

impl fmt::Display for WebTransportDraft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(u64, u64)]) -> Settings {
        let mut frame = bytes::BytesMut::new();
        Settings::encode_frame(pairs, &mut frame);
        let (_, a) = crate::proto::varint::decode(&frame).unwrap();
        let (_, b) = crate::proto::varint::decode(&frame[a..]).unwrap();
        Settings::decode(&frame[a + b..], 16).unwrap()
    }

    #[test]
    fn the_highest_common_draft_wins() {
        let firefox = [
            (0x1, 65536),
            (0x7, 20),
            (0x2b60_3742, 1),
            (0xff_d277, 1),
            (0x33, 1),
            (0x8, 1),
        ];
        let chromium07 = [(0x33, 1), (0x2b60_3742, 1), (0xc671_706a, 16)];
        let wtransport = [(0x8, 1), (0x33, 1), (0x2b60_3742, 1), (0xc671_706a, 1)];
        let neg = |p: &[(u64, u64)]| WebTransportDraft::negotiate(&settings(p));
        assert_eq!(neg(&firefox), Some(WebTransportDraft::Draft02));
        assert_eq!(neg(&chromium07), Some(WebTransportDraft::Draft07));
        assert_eq!(neg(&wtransport), Some(WebTransportDraft::Draft07));
        // Not WebTransport clients: nothing, a disabled draft-02, a zero session limit.
        assert_eq!(neg(&[(0x8, 1), (0x33, 1)]), None);
        assert_eq!(neg(&[(0x2b60_3742, 0), (0xc671_706a, 0)]), None);
        assert_eq!(
            neg(&[(0x2b60_3742, 1), (0xc671_706a, 0)]),
            Some(WebTransportDraft::Draft02)
        );
    }
}
