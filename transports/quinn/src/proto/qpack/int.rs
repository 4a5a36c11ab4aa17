//! Prefix integers (RFC 7541 §5.1, as RFC 9204 §4.1.1 uses them).

use bytes::{BufMut, BytesMut};

/// The largest value we decode: QPACK never needs more than a QUIC varint holds.
const MAX: u64 = (1 << 62) - 1;

/// Why a prefix integer did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntError {
    /// The input ends inside the integer.
    Truncated,
    /// The value is over 2^62 - 1.
    TooLarge,
}

/// Decodes the integer at `buf[*pos..]` whose first byte keeps its low `prefix` bits for it,
/// and moves `pos` past it.
#[inline]
pub(crate) fn decode(buf: &[u8], pos: &mut usize, prefix: u32) -> Result<u64, IntError> {
    let mask = (1u64 << prefix) - 1;
    let first = *buf.get(*pos).ok_or(IntError::Truncated)?;
    *pos += 1;
    let mut v = u64::from(first) & mask;
    if v < mask {
        return Ok(v);
    }
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos).ok_or(IntError::Truncated)?;
        *pos += 1;
        if shift > 56 {
            return Err(IntError::TooLarge);
        }
        v += u64::from(b & 0x7f) << shift;
        if v > MAX {
            return Err(IntError::TooLarge);
        }
        if b & 0x80 == 0 {
            return Ok(v);
        }
        shift += 7;
    }
}

/// Appends `value` with `flags` in the bits above a `prefix`-bit first byte.
#[inline]
pub(crate) fn encode(flags: u8, prefix: u32, value: u64, out: &mut BytesMut) {
    let mask = (1u64 << prefix) - 1;
    if value < mask {
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.put_u8(0x80 | (rest as u8 & 0x7f));
        rest >>= 7;
    }
    out.put_u8(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(buf: &[u8], prefix: u32) -> Result<(u64, usize), IntError> {
        let mut pos = 0;
        decode(buf, &mut pos, prefix).map(|v| (v, pos))
    }

    #[test]
    fn decodes_the_rfc_7541_examples() {
        // C.1.1: 10 in a 5-bit prefix; C.1.2: 1337 in a 5-bit prefix; C.1.3: 42 in 8 bits.
        assert_eq!(dec(&[0b0000_1010], 5), Ok((10, 1)));
        assert_eq!(
            dec(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5),
            Ok((1337, 3))
        );
        assert_eq!(dec(&[42], 8), Ok((42, 1)));
        // The flag bits above the prefix are not part of the value.
        assert_eq!(dec(&[0xea], 5), Ok((10, 1)));
    }

    #[test]
    fn round_trips_and_refuses_truncated_or_huge_values() {
        for prefix in 1..=8 {
            for v in [0, 1, 30, 31, 127, 128, 255, 1337, 1 << 20, MAX] {
                let mut out = BytesMut::new();
                encode(0, prefix, v, &mut out);
                assert_eq!(dec(&out, prefix), Ok((v, out.len())), "{v} in {prefix}");
                if out.len() > 1 {
                    assert_eq!(dec(&out[..out.len() - 1], prefix), Err(IntError::Truncated));
                }
            }
        }
        assert_eq!(dec(&[], 5), Err(IntError::Truncated));
        let mut huge = vec![0x1f];
        huge.extend([0xff; 9]);
        huge.push(0x01);
        assert_eq!(dec(&huge, 5), Err(IntError::TooLarge));
        // Endless continuation bytes stop at the size limit, not at the end of the input.
        assert_eq!(dec(&[0xff; 64], 8), Err(IntError::TooLarge));
        // Zero-valued continuation bytes (a redundant encoding) still end.
        let mut zeros = vec![0x1f];
        zeros.extend([0x80; 8]);
        zeros.push(0);
        assert_eq!(dec(&zeros, 5), Ok((31, 10)));
        assert_eq!(
            dec(
                &[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0],
                5
            ),
            Err(IntError::TooLarge)
        );
    }
}
