//! The wire format of WebTransport over HTTP/3 beyond frames: stream signals, capsules on
//! the CONNECT stream (RFC 9297 §3.2), and the application error codes mapped into the
//! HTTP/3 error space.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use quinn::VarInt;

use super::session::CloseInfo;
use crate::proto::varint;

/// The capsule that closes a session, with a code and a reason.
pub(crate) const CLOSE_CAPSULE: u64 = 0x2843;
/// The capsule that asks the client to wrap the session up (the server is draining).
pub(crate) const DRAIN_CAPSULE: u64 = 0x78ae;
/// Resets streams of a session that is gone.
pub(crate) const SESSION_GONE: u32 = 0x170d_7b68;
/// Refuses streams for an unknown session or above the per-session limit.
pub(crate) const STREAM_REJECTED: u32 = 0x3994_bd84;
/// The longest close reason the draft allows, in bytes.
pub(crate) const MAX_REASON: usize = 1024;

/// Appends `v` (< 2^62) as a QUIC varint.
pub(crate) fn put_varint(buf: &mut BytesMut, v: u64) {
    varint::encode(v, buf);
}

/// Reads a QUIC varint from the front of `buf`, or `None` if it is incomplete.
pub(crate) fn get_varint(buf: &mut impl Buf) -> Option<u64> {
    let (v, n) = varint::decode(buf.chunk())?;
    buf.advance(n);
    Some(v)
}

pub(crate) fn code(v: u32) -> VarInt {
    VarInt::from_u32(v)
}

/// The first HTTP/3 error code of the range WebTransport application codes map into.
const APP_CODE_FIRST: u64 = 0x52e4_a40f_a8db;

/// The HTTP/3 error code that carries WebTransport application error `code` in a stream reset
/// or STOP_SENDING (the draft skips the reserved codes `0x1f * N + 0x21`).
pub fn http3_error_code(code: u32) -> VarInt {
    let code = u64::from(code);
    // At most 0x52e4a40fa8db + 2^32 + 2^32/30: always a varint.
    VarInt::from_u64(APP_CODE_FIRST + code + code / 0x1e).unwrap_or(VarInt::MAX)
}

/// The WebTransport application error code an HTTP/3 error code carries, if it is one
/// (the inverse of [`http3_error_code`]), e.g. for a [`quinn::ReadError::Reset`] code.
pub fn app_error_code(http3: VarInt) -> Option<u32> {
    let shifted = http3.into_inner().checked_sub(APP_CODE_FIRST)?;
    if shifted % 0x1f == 0x1e {
        return None;
    }
    u32::try_from(shifted - shifted / 0x1f).ok()
}

/// Encodes a CLOSE_WEBTRANSPORT_SESSION capsule.
pub(crate) fn close_capsule(close: &CloseInfo) -> Bytes {
    let mut value = BytesMut::with_capacity(4 + close.reason.len());
    value.put_u32(close.code);
    value.extend_from_slice(close.reason.as_bytes());
    let mut capsule = BytesMut::with_capacity(value.len() + 16);
    put_varint(&mut capsule, CLOSE_CAPSULE);
    put_varint(&mut capsule, value.len() as u64);
    capsule.extend_from_slice(&value);
    capsule.freeze()
}

/// Encodes a DRAIN_WEBTRANSPORT_SESSION capsule: the server is shutting down.
pub(crate) fn drain_capsule() -> Bytes {
    let mut capsule = BytesMut::with_capacity(4);
    put_varint(&mut capsule, DRAIN_CAPSULE);
    put_varint(&mut capsule, 0);
    capsule.freeze()
}

/// Reads capsules from the CONNECT stream's data, looking for the client's close.
#[derive(Default)]
pub(crate) struct CapsuleReader {
    buf: BytesMut,
    /// Bytes of an uninteresting capsule still to skip.
    skip: usize,
}

impl CapsuleReader {
    /// Adds data; returns `Some` once a CLOSE_WEBTRANSPORT_SESSION capsule is complete. Other
    /// capsules are skipped without being buffered; a close capsule longer than the draft
    /// allows counts as a close without a reason. A close capsule too short for its code is
    /// malformed (RFC 9297 §3.3): the reason comes back as the error.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<Option<CloseInfo>, &'static str> {
        self.buf.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len());
                self.buf.advance(n);
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let mut peek = &self.buf[..];
            let (Some(kind), Some(len)) = (get_varint(&mut peek), get_varint(&mut peek)) else {
                return Ok(None);
            };
            let header = self.buf.len() - peek.len();
            if kind != CLOSE_CAPSULE {
                self.buf.advance(header);
                self.skip = usize::try_from(len).unwrap_or(usize::MAX);
                continue;
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if len < 4 {
                return Err("a CLOSE_WEBTRANSPORT_SESSION capsule too short for its code");
            }
            if len > 4 + MAX_REASON {
                return Ok(Some(CloseInfo::default()));
            }
            if peek.len() < len {
                return Ok(None);
            }
            let value = &peek[..len];
            let code = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
            let reason = String::from_utf8_lossy(&value[4..]).into_owned();
            // What follows stays, for `at_boundary` to tell.
            self.buf.advance(header + len);
            return Ok(Some(CloseInfo { code, reason }));
        }
    }

    /// Whether the data so far ends between capsules (a stream that ends elsewhere cut its
    /// last capsule short, which RFC 9297 §3.3 makes malformed).
    pub(crate) fn at_boundary(&self) -> bool {
        self.buf.is_empty() && self.skip == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capsules_parse_across_chunks() {
        let close = CloseInfo {
            code: 7,
            reason: "bye".into(),
        };
        let encoded = close_capsule(&close);
        let mut reader = CapsuleReader::default();
        // An unknown capsule first, then the close capsule split in two.
        assert_eq!(reader.push(&[0x29, 0x02, 0xaa, 0xbb]), Ok(None));
        assert!(reader.at_boundary());
        assert_eq!(reader.push(&encoded[..3]), Ok(None));
        assert!(!reader.at_boundary());
        assert_eq!(reader.push(&encoded[3..]), Ok(Some(close)));

        // A large unknown capsule is skipped as it streams by, never buffered whole.
        let mut reader = CapsuleReader::default();
        assert_eq!(reader.push(&[0x29, 0x80, 0x01, 0x00, 0x00]), Ok(None));
        for i in 0..16 {
            assert_eq!(reader.push(&[0u8; 4096]), Ok(None));
            assert!(reader.buf.len() <= 4096);
            // Its 64 KiB end with the last chunk.
            assert_eq!(reader.at_boundary(), i == 15);
        }
        assert_eq!(
            reader.push(&encoded),
            Ok(Some(CloseInfo {
                code: 7,
                reason: "bye".into()
            }))
        );
    }

    #[test]
    fn what_follows_a_close_capsule_shows_and_a_short_one_is_malformed() {
        let mut reader = CapsuleReader::default();
        let close = close_capsule(&CloseInfo::default());
        assert!(reader.push(&close).unwrap().is_some());
        assert!(reader.at_boundary());
        let mut reader = CapsuleReader::default();
        assert!(reader
            .push(&[&close[..], &[0x29]].concat())
            .unwrap()
            .is_some());
        assert!(!reader.at_boundary(), "a byte after the close capsule");
        let mut reader = CapsuleReader::default();
        let mut short = BytesMut::new();
        put_varint(&mut short, CLOSE_CAPSULE);
        put_varint(&mut short, 3);
        assert!(reader.push(&short).is_err());
    }

    #[test]
    fn application_error_codes_map_both_ways() {
        assert_eq!(http3_error_code(0).into_inner(), 0x52e4_a40f_a8db);
        assert_eq!(http3_error_code(0x1e).into_inner(), 0x52e4_a40f_a8db + 0x1f);
        for code in [0, 1, 0x1d, 0x1e, 0x1f, 1000, u32::MAX] {
            assert_eq!(app_error_code(http3_error_code(code)), Some(code));
        }
        // Reserved (GREASE) codes inside the range and codes outside it carry none.
        assert_eq!(
            app_error_code(VarInt::from_u64(0x52e4_a40f_a8db + 0x1e).unwrap()),
            None
        );
        assert_eq!(app_error_code(VarInt::from_u32(0x100)), None);
    }
}
