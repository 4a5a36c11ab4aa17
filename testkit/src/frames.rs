//! Raw frames for attacks a well-behaved client library refuses to send: HTTP/2 frames and
//! HPACK, HTTP/3 frames and QPACK, QUIC variable-length integers.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The HTTP/2 client connection preface.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// HTTP/2 frame type DATA.
pub const H2_DATA: u8 = 0x0;
/// HTTP/2 frame type HEADERS.
pub const H2_HEADERS: u8 = 0x1;
/// HTTP/2 frame type RST_STREAM.
pub const H2_RST_STREAM: u8 = 0x3;
/// HTTP/2 frame type SETTINGS.
pub const H2_SETTINGS: u8 = 0x4;
/// HTTP/2 frame type PING.
pub const H2_PING: u8 = 0x6;
/// HTTP/2 frame type GOAWAY.
pub const H2_GOAWAY: u8 = 0x7;
/// HTTP/2 frame type WINDOW_UPDATE.
pub const H2_WINDOW_UPDATE: u8 = 0x8;
/// HTTP/2 frame type CONTINUATION.
pub const H2_CONTINUATION: u8 = 0x9;
/// HTTP/2 flag END_STREAM.
pub const END_STREAM: u8 = 0x1;
/// HTTP/2 flag END_HEADERS.
pub const END_HEADERS: u8 = 0x4;
/// HTTP/2 flag ACK (SETTINGS, PING).
pub const ACK: u8 = 0x1;
/// HTTP/2 flag PADDED.
pub const PADDED: u8 = 0x8;

/// One HTTP/2 frame.
pub fn h2_frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(ty);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads one HTTP/2 frame: (type, flags, stream, payload); `None` at EOF or an error.
pub async fn h2_read<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0; len];
    r.read_exact(&mut payload).await.ok()?;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    Some((head[3], head[4], stream, payload))
}

/// The types of the HTTP/2 frames in `buf`, in order (a cut-off last frame included).
pub fn h2_frame_types(buf: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = buf;
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        types.push(rest[3]);
        rest = &rest[(9 + len).min(rest.len())..];
    }
    types
}

/// An HPACK / QPACK prefixed integer (RFC 7541 §5.1): `value` with an `n`-bit prefix, `flags`
/// in the high bits. Written from the RFC's pseudocode, apart from the codec under test.
pub fn prefix_int(flags: u8, n: u32, value: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    out.push(flags | value.min(max) as u8);
    if value < max {
        return;
    }
    // The rest in 7-bit groups, least significant first, each but the last with the high bit.
    let mut rest = value - max;
    loop {
        let group = (rest % 128) as u8;
        rest /= 128;
        if rest == 0 {
            out.push(group);
            return;
        }
        out.push(group | 0x80);
    }
}

/// An HPACK literal header field without indexing, new name, no Huffman.
pub fn hpack_literal(name: &str, value: &[u8], out: &mut Vec<u8>) {
    out.push(0x00);
    prefix_int(0, 7, name.len(), out);
    out.extend_from_slice(name.as_bytes());
    prefix_int(0, 7, value.len(), out);
    out.extend_from_slice(value);
}

/// `GET https://localhost/ok` as an HPACK header block (static-table indexes).
pub fn hpack_get_ok() -> Vec<u8> {
    // :method GET (2), :scheme https (7), :path from index 4 with the value "/ok".
    let mut b = vec![0x82, 0x87, 0x04, 3];
    b.extend_from_slice(b"/ok");
    // :authority (1) "localhost", literal without indexing.
    b.push(0x01);
    b.push(9);
    b.extend_from_slice(b"localhost");
    b
}

/// Whether a header block (HPACK or QPACK, as our peers encode it) carries status 431:
/// either literally or as the Huffman code of "431" (0x69 0x90 0xff).
pub fn says_431(block: &[u8]) -> bool {
    block
        .windows(3)
        .any(|w| w == b"431" || w == [0x69, 0x90, 0xff])
}

/// A QUIC variable-length integer (RFC 9000 §16).
pub fn quic_varint(v: u64, out: &mut Vec<u8>) {
    if v < 1 << 6 {
        out.push(v as u8);
    } else if v < 1 << 14 {
        out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes());
    } else if v < 1 << 30 {
        out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes());
    } else {
        out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes());
    }
}

/// An HTTP/3 HEADERS frame for `GET https://localhost/ok` plus `extra` fields (QPACK, static
/// table only, no Huffman).
pub fn h3_headers_frame(extra: &[(&str, &[u8])]) -> Vec<u8> {
    // Required insert count 0, base 0.
    let mut block = vec![0x00, 0x00];
    // Indexed static: :method GET (17), :scheme https (23).
    block.extend_from_slice(&[0xc0 | 17, 0xc0 | 23]);
    // Literal with static name reference :path (1) = "/ok".
    prefix_int(0x50, 4, 1, &mut block);
    prefix_int(0, 7, 3, &mut block);
    block.extend_from_slice(b"/ok");
    // :authority (0) = "localhost".
    prefix_int(0x50, 4, 0, &mut block);
    prefix_int(0, 7, 9, &mut block);
    block.extend_from_slice(b"localhost");
    for (name, value) in extra {
        // Literal with literal name: 001N H xxx.
        prefix_int(0x20, 3, name.len(), &mut block);
        block.extend_from_slice(name.as_bytes());
        prefix_int(0, 7, value.len(), &mut block);
        block.extend_from_slice(value);
    }
    let mut frame = Vec::new();
    quic_varint(0x01, &mut frame);
    quic_varint(block.len() as u64, &mut frame);
    frame.extend_from_slice(&block);
    frame
}

/// HTTP/3 frame type DATA.
pub const H3_DATA: u64 = 0x0;
/// HTTP/3 frame type HEADERS.
pub const H3_HEADERS: u64 = 0x1;
/// HTTP/3 frame type CANCEL_PUSH.
pub const H3_CANCEL_PUSH: u64 = 0x3;
/// HTTP/3 frame type SETTINGS.
pub const H3_SETTINGS: u64 = 0x4;
/// HTTP/3 frame type GOAWAY.
pub const H3_GOAWAY: u64 = 0x7;
/// HTTP/3 frame type MAX_PUSH_ID.
pub const H3_MAX_PUSH_ID: u64 = 0xd;
/// HTTP/3 unidirectional stream type: control.
pub const H3_CONTROL_STREAM: u64 = 0x0;
/// HTTP/3 unidirectional stream type: QPACK encoder.
pub const QPACK_ENCODER_STREAM: u64 = 0x2;
/// HTTP/3 unidirectional stream type: QPACK decoder.
pub const QPACK_DECODER_STREAM: u64 = 0x3;

/// The `n`th type reserved for greasing, `0x1f * n + 0x21` (RFC 9114 §7.2.8, §6.2.3): a
/// frame or stream type every peer must ignore.
pub fn h3_reserved(n: u64) -> u64 {
    0x1f * n + 0x21
}

/// An HTTP/3 frame head: type and declared payload length.
pub fn h3_frame_head(ty: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    quic_varint(ty, &mut out);
    quic_varint(len, &mut out);
    out
}

/// A whole HTTP/3 frame.
pub fn h3_frame(ty: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = h3_frame_head(ty, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A SETTINGS frame of `(id, value)` pairs.
pub fn h3_settings(pairs: &[(u64, u64)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for &(id, value) in pairs {
        quic_varint(id, &mut payload);
        quic_varint(value, &mut payload);
    }
    h3_frame(H3_SETTINGS, &payload)
}

/// A frame whose payload is the single varint `v` (GOAWAY, MAX_PUSH_ID, CANCEL_PUSH).
pub fn h3_varint_frame(ty: u64, v: u64) -> Vec<u8> {
    let mut payload = Vec::new();
    quic_varint(v, &mut payload);
    h3_frame(ty, &payload)
}

/// A HEADERS frame for `method https://localhost{path}` plus `extra` fields (QPACK, static
/// name references and literals only, no Huffman).
pub fn h3_request_frame(method: &str, path: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut block = vec![0x00, 0x00];
    // Literals with static name references: :method (15), :scheme https (23, indexed),
    // :path (1), :authority (0).
    for (index, value) in [(15, method), (1, path), (0, "localhost")] {
        prefix_int(0x50, 4, index, &mut block);
        prefix_int(0, 7, value.len(), &mut block);
        block.extend_from_slice(value.as_bytes());
    }
    block.push(0xc0 | 23);
    for (name, value) in extra {
        prefix_int(0x20, 3, name.len(), &mut block);
        block.extend_from_slice(name.as_bytes());
        prefix_int(0, 7, value.len(), &mut block);
        block.extend_from_slice(value);
    }
    h3_frame(H3_HEADERS, &block)
}

/// A HEADERS frame carrying a trailer section of `fields` (QPACK literals, no Huffman).
pub fn h3_trailers_frame(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut block = vec![0x00, 0x00];
    for (name, value) in fields {
        prefix_int(0x20, 3, name.len(), &mut block);
        block.extend_from_slice(name.as_bytes());
        prefix_int(0, 7, value.len(), &mut block);
        block.extend_from_slice(value);
    }
    h3_frame(H3_HEADERS, &block)
}

/// Splits `buf` into HTTP/3 frames `(type, payload)`; a cut-off last frame is left out.
pub fn h3_frames(buf: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = buf;
    while let Some((ty, n)) = read_quic_varint(rest) {
        let Some((len, m)) = read_quic_varint(&rest[n..]) else {
            break;
        };
        let start = n + m;
        let Some(end) = usize::try_from(len).ok().and_then(|l| start.checked_add(l)) else {
            break;
        };
        if end > rest.len() {
            break;
        }
        frames.push((ty, rest[start..end].to_vec()));
        rest = &rest[end..];
    }
    frames
}

/// Reads a QUIC varint from the front of `buf`: the value and its length.
pub fn read_quic_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        v = v << 8 | u64::from(*b);
    }
    Some((v, len))
}

/// QPACK encoder instruction Set Dynamic Table Capacity (RFC 9204 §4.3.1).
pub fn qpack_set_capacity(capacity: usize) -> Vec<u8> {
    let mut out = Vec::new();
    prefix_int(0x20, 5, capacity, &mut out);
    out
}

/// QPACK encoder instruction Insert with Literal Name (RFC 9204 §4.3.3), no Huffman.
pub fn qpack_insert_literal(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prefix_int(0x40, 5, name.len(), &mut out);
    out.extend_from_slice(name.as_bytes());
    prefix_int(0, 7, value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

/// QPACK decoder instruction Section Acknowledgment for `stream_id` (RFC 9204 §4.4.1).
pub fn qpack_section_ack(stream_id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prefix_int(0x80, 7, stream_id as usize, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::prefix_int;

    /// RFC 7541 C.1: 10 and 1337 with a 5-bit prefix, 42 at an octet boundary.
    #[test]
    fn prefix_int_encodes_the_rfc_examples() {
        for (n, value, want) in [
            (5, 10, &[0x0a][..]),
            (5, 1337, &[0x1f, 0x9a, 0x0a][..]),
            (8, 42, &[0x2a][..]),
            (5, 31, &[0x1f, 0x00][..]),
        ] {
            let mut out = Vec::new();
            prefix_int(0, n, value, &mut out);
            assert_eq!(out, want, "{value} with a {n}-bit prefix");
        }
    }
}
