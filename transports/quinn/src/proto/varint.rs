//! QUIC variable-length integers (RFC 9000 §16), as HTTP/3 frames and streams use them.

use bytes::BufMut;

/// The largest value a variable-length integer holds.
pub(crate) const MAX: u64 = (1 << 62) - 1;

/// Decodes the integer at the front of `buf`: its value and how many bytes it took, or `None`
/// when `buf` ends before it does.
#[inline]
pub(crate) fn decode(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// Appends `v` in its shortest encoding.
#[inline]
pub(crate) fn encode(v: u64, out: &mut bytes::BytesMut) {
    debug_assert!(v <= MAX, "varint {v} out of range");
    match size(v) {
        1 => out.put_u8(v as u8),
        2 => out.put_u16(v as u16 | 0x4000),
        4 => out.put_u32(v as u32 | 0x8000_0000),
        _ => out.put_u64(v | 0xc000_0000_0000_0000),
    }
}

/// How many bytes [`encode`] writes for `v`.
#[inline]
pub(crate) fn size(v: u64) -> usize {
    if v < 1 << 6 {
        1
    } else if v < 1 << 14 {
        2
    } else if v < 1 << 30 {
        4
    } else {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn round_trips_at_every_size_boundary() {
        for v in [0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, MAX] {
            let mut out = BytesMut::new();
            encode(v, &mut out);
            assert_eq!(out.len(), size(v), "{v}");
            assert_eq!(decode(&out), Some((v, out.len())), "{v}");
            // Every strict prefix is "need more".
            for cut in 0..out.len() {
                assert_eq!(decode(&out[..cut]), None, "{v} cut at {cut}");
            }
        }
    }

    #[test]
    fn decodes_the_rfc_9000_examples() {
        // RFC 9000 Appendix A.1.
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, v) in cases {
            assert_eq!(decode(bytes), Some((v, bytes.len())));
        }
        // A non-minimal encoding is still the same number.
        assert_eq!(decode(&[0x40, 0x25]), Some((37, 2)));
        // Trailing bytes are left alone.
        assert_eq!(decode(&[0x25, 0xff]), Some((37, 1)));
    }
}
