//! The HPACK/QPACK Huffman code (RFC 7541 Appendix B, used by RFC 9204 §4.1.2).
//!
//! The code is canonical: codes of one length are consecutive and ordered by symbol, and the
//! lengths fill the code space exactly. So the whole table is the 257 code lengths below;
//! the codes, a one-byte fast path and the per-length bounds are computed from them at
//! compile time. (The lengths were checked against every byte as ls-qpack encodes it.)

use bytes::BytesMut;

/// The code length of each symbol 0..=255 and of EOS (256), RFC 7541 Appendix B.
const LEN: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0..
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16..
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32..
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48..
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64..
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80..
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96..
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112..
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128..
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144..
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160..
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176..
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192..
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208..
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224..
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240..
    30, // EOS
];

const MAX_LEN: usize = 30;
/// The fast path covers codes of up to this many bits: all but the rarest bytes.
const FAST_BITS: u32 = 10;
const EOS: u16 = 256;

/// The canonical code's tables.
struct Tables {
    /// Each symbol's code, right-aligned.
    code: [u32; 257],
    /// The first code of each length.
    first: [u32; MAX_LEN + 1],
    /// How many codes each length has.
    count: [u32; MAX_LEN + 1],
    /// Where each length's symbols start in `symbols`.
    offset: [u16; MAX_LEN + 1],
    /// The symbols ordered by (length, symbol).
    symbols: [u16; 257],
    /// For the top `FAST_BITS` bits of the input: `symbol | length << 9` of a code that
    /// short there, or 0 when the code is longer.
    fast: [u16; 1 << FAST_BITS],
}

const fn build() -> Tables {
    let mut t = Tables {
        code: [0; 257],
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        symbols: [0; 257],
        fast: [0; 1 << FAST_BITS],
    };
    let mut s = 0;
    while s < 257 {
        t.count[LEN[s] as usize] += 1;
        s += 1;
    }
    let mut l = 1;
    let mut at = 0u16;
    while l <= MAX_LEN {
        t.first[l] = (t.first[l - 1] + t.count[l - 1]) << 1;
        t.offset[l] = at;
        // Symbols of this length, in order, and their consecutive codes.
        let mut s = 0;
        let mut next = t.first[l];
        while s < 257 {
            if LEN[s] as usize == l {
                t.symbols[at as usize] = s as u16;
                t.code[s] = next;
                next += 1;
                at += 1;
            }
            s += 1;
        }
        l += 1;
    }
    let mut b = 0;
    while b < 1 << FAST_BITS {
        let mut l = 1;
        while l <= FAST_BITS as usize {
            let code = (b >> (FAST_BITS as usize - l)) as u32;
            if t.count[l] > 0 && code < t.first[l] + t.count[l] {
                let sym = t.symbols[t.offset[l] as usize + (code - t.first[l]) as usize];
                t.fast[b] = sym | (l as u16) << 9;
                break;
            }
            l += 1;
        }
        b += 1;
    }
    t
}

static TABLES: Tables = build();

/// A Huffman string that does not decode (RFC 7541 §5.2): an EOS symbol, or padding that is
/// longer than 7 bits or not all ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidHuffman;

/// The symbol at the front of `window` (the next 32 bits of input, left-aligned) and its
/// code length.
#[inline(always)]
fn symbol(window: u32) -> (u16, u32) {
    let fast = TABLES.fast[(window >> (32 - FAST_BITS)) as usize];
    if fast != 0 {
        return (fast & 0x1ff, u32::from(fast >> 9));
    }
    long_symbol(window)
}

/// [`symbol`] for codes longer than `FAST_BITS`: the rare bytes, and the padding test.
#[inline(never)]
fn long_symbol(window: u32) -> (u16, u32) {
    let t = &TABLES;
    let mut l = FAST_BITS as usize + 1;
    loop {
        let code = window >> (32 - l);
        if code < t.first[l] + t.count[l] {
            let i = usize::from(t.offset[l]) + (code - t.first[l]) as usize;
            return (t.symbols[i], l as u32);
        }
        l += 1;
        // The code is complete, so every 30-bit prefix is some symbol's code.
        debug_assert!(l <= MAX_LEN);
    }
}

/// Decodes `input` and appends the bytes to `out`.
pub(crate) fn decode(input: &[u8], out: &mut BytesMut) -> Result<(), InvalidHuffman> {
    out.reserve(max_decoded_len(input.len()));
    // Output gathered on the stack and appended in runs, not byte by byte.
    let mut stage = [0u8; 64];
    let mut staged = 0;
    // The next `nbits` bits of input, left-aligned; the bits below them are the input's
    // next bits too, or zero.
    let mut bits: u64 = 0;
    let mut nbits: u32 = 0;
    let mut rest = input;
    loop {
        if let Some(word) = rest.first_chunk::<8>() {
            // Eight bytes at once: as many whole bytes as fit count.
            bits |= u64::from_be_bytes(*word) >> nbits;
            let take = (64 - nbits) / 8;
            rest = &rest[take as usize..];
            nbits += take * 8;
        }
        while nbits <= 56 {
            let Some((&b, more)) = rest.split_first() else {
                break;
            };
            bits |= u64::from(b) << (56 - nbits);
            nbits += 8;
            rest = more;
        }
        if nbits < MAX_LEN as u32 {
            break;
        }
        // With 30 bits or more, every symbol at the front is whole.
        while nbits >= MAX_LEN as u32 {
            let (sym, len) = symbol((bits >> 32) as u32);
            if sym == EOS {
                return Err(InvalidHuffman);
            }
            stage[staged] = sym as u8;
            staged += 1;
            if staged == stage.len() {
                out.extend_from_slice(&stage);
                staged = 0;
            }
            bits <<= len;
            nbits -= len;
        }
    }
    // The input is used up and fewer than 30 bits are left.
    while nbits > 0 {
        // Up to 7 ones are the EOS prefix padding: no code that short is all ones.
        let ones = u64::MAX << (64 - nbits);
        if nbits <= 7 && bits & ones == ones {
            break;
        }
        // Past the end the window reads as ones, so a cut code or bad padding decodes as a
        // code longer than what is left.
        let (sym, len) = symbol((bits >> 32) as u32 | u32::MAX >> nbits);
        if len > nbits {
            return Err(InvalidHuffman);
        }
        stage[staged] = sym as u8;
        staged += 1;
        if staged == stage.len() {
            out.extend_from_slice(&stage);
            staged = 0;
        }
        bits <<= len;
        nbits -= len;
    }
    out.extend_from_slice(&stage[..staged]);
    Ok(())
}

/// At most this many bytes decode from `n` bytes of Huffman code (the shortest code is 5 bits).
pub(crate) fn max_decoded_len(n: usize) -> usize {
    n.saturating_mul(8) / 5
}

/// How many bytes [`encode`] writes for `input`.
pub(crate) fn encoded_len(input: &[u8]) -> usize {
    let bits: usize = input
        .iter()
        .map(|&b| usize::from(LEN[usize::from(b)]))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman code of `input`, padded with the EOS prefix.
pub(crate) fn encode(input: &[u8], out: &mut BytesMut) {
    out.reserve(encoded_len(input));
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    for &b in input {
        let len = u32::from(LEN[usize::from(b)]);
        acc = (acc << len) | u64::from(TABLES.code[usize::from(b)]);
        n += len;
        while n >= 8 {
            n -= 8;
            out.extend_from_slice(&[(acc >> n) as u8]);
        }
        acc &= (1 << n) - 1;
    }
    if n > 0 {
        let pad = 8 - n;
        out.extend_from_slice(&[((acc << pad) as u8) | ((1u8 << pad) - 1)]);
    }
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
