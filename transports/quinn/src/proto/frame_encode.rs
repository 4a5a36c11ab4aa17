//! Encoding HTTP/3 frames (RFC 9114 §7.1): headers, whole frames whose payload a closure
//! writes, GOAWAY. Re-exported by `frame`.

use bytes::BytesMut;

use super::frame::GOAWAY;
use super::varint;

/// Appends a frame header: type and payload length.
pub(crate) fn encode_header(ty: u64, len: u64, out: &mut BytesMut) {
    varint::encode(ty, out);
    varint::encode(len, out);
}

/// Appends a whole frame of type `ty` whose payload `body` writes (at most `len_bound` bytes,
/// reserved once), with the length in front.
pub(crate) fn encode_frame_with(
    ty: u64,
    len_bound: usize,
    out: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut),
) {
    out.reserve(len_bound + 2 * 8);
    varint::encode(ty, out);
    // Room for a two-byte length, the usual case; moved if the payload needs another size.
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out);
    let len = out.len() - at - 2;
    let size = varint::size(len as u64);
    if size != 2 {
        let end = out.len();
        if size == 1 {
            out.copy_within(at + 2..end, at + 1);
            out.truncate(end - 1);
        } else {
            out.resize(end + size - 2, 0);
            out.copy_within(at + 2..end, at + size);
        }
    }
    let tag: u64 = match size {
        1 => 0,
        2 => 0x4000,
        4 => 0x8000_0000,
        _ => 0xc000_0000_0000_0000,
    };
    out[at..at + size].copy_from_slice(&((len as u64) | tag).to_be_bytes()[8 - size..]);
}

/// Appends a whole GOAWAY frame carrying `id` (RFC 9114 §7.2.6).
pub(crate) fn encode_goaway(id: u64, out: &mut BytesMut) {
    encode_header(GOAWAY, varint::size(id) as u64, out);
    varint::encode(id, out);
}
