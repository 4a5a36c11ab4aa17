//! The SETTINGS frame's payload (RFC 9114 §7.2.4): decoding a peer's, encoding ours.

use bytes::BytesMut;

use super::error::ProtoError;
use super::{frame, varint};
use crate::codes::{H3_EXCESSIVE_LOAD, H3_FRAME_ERROR, H3_SETTINGS_ERROR};

/// SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5).
pub(crate) const QPACK_MAX_TABLE_CAPACITY: u64 = 0x1;
/// SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §7.2.4.1).
pub(crate) const MAX_FIELD_SECTION_SIZE: u64 = 0x6;
/// SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §5).
pub(crate) const QPACK_BLOCKED_STREAMS: u64 = 0x7;
/// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220 §3, the RFC 8441 setting).
pub(crate) const ENABLE_CONNECT_PROTOCOL: u64 = 0x8;
/// SETTINGS_H3_DATAGRAM (RFC 9297 §2.1.1).
pub(crate) const H3_DATAGRAM: u64 = 0x33;
/// SETTINGS_ENABLE_WEBTRANSPORT (draft-ietf-webtrans-http3-02 §3.1: Firefox, aioquic,
/// Chromium by default).
pub(crate) const ENABLE_WEBTRANSPORT: u64 = 0x2b60_3742;
/// SETTINGS_WEBTRANSPORT_MAX_SESSIONS (draft-ietf-webtrans-http3-07 §8.2, reused up to -12:
/// Chromium with EnableWebTransportDraft07, the wtransport crate).
pub(crate) const WEBTRANSPORT_MAX_SESSIONS: u64 = 0xc671_706a;
/// SETTINGS_WT_MAX_SESSIONS (draft-13/14, not offered: those drafts need RESET_STREAM_AT).
#[cfg(test)]
pub(crate) const WT_MAX_SESSIONS: u64 = 0x14e9_cd29;

/// A peer's settings: validated (id, value) pairs, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pairs: Vec<(u64, u64)>,
}

/// Whether `id` is one of the HTTP/2 settings without an HTTP/3 counterpart (RFC 9114
/// §7.2.4.1, §11.2.2): ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE.
fn is_http2_only(id: u64) -> bool {
    (0x2..=0x5).contains(&id)
}

impl Settings {
    /// RFC 9114 §7.2.4: duplicate ids and the HTTP/2 ids 0x2..=0x5 are H3_SETTINGS_ERROR, a
    /// pair cut short H3_FRAME_ERROR; ENABLE_CONNECT_PROTOCOL and H3_DATAGRAM other than 0 or
    /// 1 are H3_SETTINGS_ERROR (RFC 8441 §3, RFC 9297 §2.1.1). Unknown ids are kept (so
    /// WebTransport draft codepoints can be looked up); at most `max_pairs` pairs (more is
    /// H3_EXCESSIVE_LOAD). All are connection errors.
    pub(crate) fn decode(payload: &[u8], max_pairs: usize) -> Result<Settings, ProtoError> {
        let mut pairs = Vec::new();
        let mut rest = payload;
        while !rest.is_empty() {
            let truncated = || ProtoError::connection(H3_FRAME_ERROR, "SETTINGS pair cut short");
            let (id, n) = varint::decode(rest).ok_or_else(truncated)?;
            rest = &rest[n..];
            let (value, n) = varint::decode(rest).ok_or_else(truncated)?;
            rest = &rest[n..];
            if is_http2_only(id) {
                return Err(ProtoError::connection(
                    H3_SETTINGS_ERROR,
                    "an HTTP/2 setting in SETTINGS",
                ));
            }
            if matches!(id, ENABLE_CONNECT_PROTOCOL | H3_DATAGRAM) && value > 1 {
                return Err(ProtoError::connection(
                    H3_SETTINGS_ERROR,
                    "a boolean setting other than 0 or 1",
                ));
            }
            if pairs.iter().any(|&(seen, _)| seen == id) {
                return Err(ProtoError::connection(
                    H3_SETTINGS_ERROR,
                    "a setting sent twice",
                ));
            }
            if pairs.len() == max_pairs {
                return Err(ProtoError::connection(
                    H3_EXCESSIVE_LOAD,
                    "too many settings",
                ));
            }
            pairs.push((id, value));
        }
        Ok(Settings { pairs })
    }

    /// The value of setting `id`, if the peer sent it.
    pub(crate) fn get(&self, id: u64) -> Option<u64> {
        self.pairs.iter().find(|&&(i, _)| i == id).map(|&(_, v)| v)
    }

    /// Every (id, value) pair, in the order the peer sent them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.pairs.iter().copied()
    }

    /// A whole SETTINGS frame (type, length, pairs), for the server's control stream.
    pub(crate) fn encode_frame(pairs: &[(u64, u64)], out: &mut BytesMut) {
        let len: usize = pairs
            .iter()
            .map(|&(id, v)| varint::size(id) + varint::size(v))
            .sum();
        out.reserve(len + 9);
        frame::encode_header(frame::SETTINGS, len as u64, out);
        for &(id, v) in pairs {
            varint::encode(id, out);
            varint::encode(v, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(pairs: &[(u64, u64)]) -> Vec<u8> {
        let mut out = BytesMut::new();
        Settings::encode_frame(pairs, &mut out);
        // Skip the type (0x04) and the length.
        let (_, n) = varint::decode(&out[1..]).unwrap();
        out[1 + n..].to_vec()
    }

    #[test]
    fn round_trips_and_keeps_unknown_ids_in_order() {
        let pairs = [
            (QPACK_MAX_TABLE_CAPACITY, 0),
            (MAX_FIELD_SECTION_SIZE, 65536),
            (0x1f * 3 + 0x21, 7),
            (WT_MAX_SESSIONS, 1),
            (ENABLE_CONNECT_PROTOCOL, 1),
        ];
        let s = Settings::decode(&payload(&pairs), 16).unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(s.get(MAX_FIELD_SECTION_SIZE), Some(65536));
        assert_eq!(s.get(0x1f * 3 + 0x21), Some(7));
        assert_eq!(s.get(H3_DATAGRAM), None);
        assert_eq!(Settings::decode(&[], 16).unwrap().iter().count(), 0);
    }

    #[test]
    fn encodes_a_whole_frame() {
        let mut out = BytesMut::new();
        Settings::encode_frame(&[(0x1, 0), (0x6, 16384)], &mut out);
        assert_eq!(
            &out[..],
            &[0x04, 0x07, 0x01, 0x00, 0x06, 0x80, 0x00, 0x40, 0x00]
        );
    }

    #[test]
    fn refuses_what_rfc_9114_forbids() {
        for id in 0x2..=0x5 {
            let e = Settings::decode(&payload(&[(id, 0)]), 16).unwrap_err();
            assert_eq!(e.code, H3_SETTINGS_ERROR, "{id:#x}");
            assert!(e.is_connection());
        }
        let e = Settings::decode(&payload(&[(0x6, 1), (0x7, 0), (0x6, 1)]), 16).unwrap_err();
        assert_eq!(
            (e.code, e.reason),
            (H3_SETTINGS_ERROR, "a setting sent twice")
        );
        for id in [ENABLE_CONNECT_PROTOCOL, H3_DATAGRAM] {
            let e = Settings::decode(&payload(&[(id, 2)]), 16).unwrap_err();
            assert_eq!(e.code, H3_SETTINGS_ERROR);
        }
        // An id without its value, a value cut inside its varint.
        for bad in [&[0x06][..], &[0x06, 0x40], &[0x40]] {
            let e = Settings::decode(bad, 16).unwrap_err();
            assert_eq!(e.code, H3_FRAME_ERROR, "{bad:?}");
        }
    }

    #[test]
    fn counts_pairs_against_the_limit() {
        let pairs: Vec<_> = (0..4).map(|i| (0x100 + i, i)).collect();
        assert!(Settings::decode(&payload(&pairs), 4).is_ok());
        let e = Settings::decode(&payload(&pairs), 3).unwrap_err();
        assert_eq!(e.code, H3_EXCESSIVE_LOAD);
    }
}
