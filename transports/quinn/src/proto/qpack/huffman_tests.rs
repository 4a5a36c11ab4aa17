use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn dec(input: &[u8]) -> Result<Vec<u8>, InvalidHuffman> {
    let mut out = BytesMut::new();
    decode(input, &mut out).map(|()| out.to_vec())
}

fn enc(input: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(input, &mut out);
    assert_eq!(out.len(), encoded_len(input));
    out.to_vec()
}

/// RFC 7541 Appendix C.4 and C.6.
const RFC_7541: [(&str, &str); 10] = [
    ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
    ("no-cache", "a8eb 1064 9cbf"),
    ("custom-key", "25a8 49e9 5ba9 7d7f"),
    ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
    ("302", "6402"),
    ("private", "aec3 771a 4b"),
    ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
    ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
    ("gzip", "9bd9 ab"),
    (
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ),
];

#[test]
fn decodes_and_encodes_the_rfc_7541_examples() {
    for (text, code) in RFC_7541 {
        assert_eq!(dec(&hex(code)).unwrap(), text.as_bytes(), "{text}");
        assert_eq!(enc(text.as_bytes()), hex(code), "{text}");
    }
}

/// Values as ls-qpack (pylsqpack 1.0.0) Huffman-codes them: the 30-, 28-, 26-, 23-, 20- and
/// 19-bit codes among short ones, and a user agent.
#[test]
fn decodes_what_ls_qpack_encodes() {
    let mut long = vec![b'a'; 24];
    long.extend_from_slice(&[0x00, 0x0a, 0x16, 0x80, 0xc3, 0xd0, 0xfe, 0xff]);
    long.extend_from_slice(&[b'e'; 40]);
    let code = "18c6318c6318c6318c6318c6318c63ffc7ffffff9fffffff7fff37fff1fffe5fffffc3ffffee\
                294a5294a5294a5294a5294a5294a5294a5294a5294a5294a5";
    assert_eq!(dec(&hex(code)).unwrap(), long);
    assert_eq!(enc(&long), hex(code));
    let ua = "d07f66a281b0dae053fafc087ed4ce6aadf2a7979c89c6bfbf";
    assert_eq!(dec(&hex(ua)).unwrap(), b"Mozilla/5.0 (X11; Linux x86_64)");
}

#[test]
fn every_byte_round_trips_at_every_alignment() {
    for pre in 0..8 {
        let mut all: Vec<u8> = vec![b'0'; pre];
        all.extend(0..=255u8);
        all.extend((0..=255u8).rev());
        assert_eq!(dec(&enc(&all)).unwrap(), all, "{pre}");
    }
    assert_eq!(dec(&[]).unwrap(), b"");
    assert!(max_decoded_len(enc(b"0000000000").len()) >= 10);
}

#[test]
fn refuses_bad_padding_and_eos() {
    // Eight bits of padding.
    let mut a = enc(b"a");
    a.push(0xff);
    assert_eq!(dec(&a), Err(InvalidHuffman));
    // Padding that is not all ones: 'a' is 00011, then 000 instead of 111.
    assert_eq!(dec(&[0b0001_1000]), Err(InvalidHuffman));
    assert_eq!(dec(&[0b0001_1111]).unwrap(), b"a");
    // The EOS symbol itself (30 ones), with padding.
    assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(InvalidHuffman));
    // A lone byte of ones is padding longer than 7 bits.
    assert_eq!(dec(&[0xff]), Err(InvalidHuffman));
    // A code cut short.
    assert_eq!(dec(&enc(b"\x00")[..1]), Err(InvalidHuffman));
}

#[test]
fn no_input_panics() {
    let mut x: u32 = 1;
    for len in 0..64 {
        for _ in 0..200 {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    // Mostly ones, where the long codes are.
                    (x as u8) | if x & 0x100 != 0 { 0xf0 } else { 0 }
                })
                .collect();
            if let Ok(out) = dec(&input) {
                assert!(out.len() <= max_decoded_len(input.len()));
                assert_eq!(enc(&out), input, "a decodable input re-encodes to itself");
            }
        }
    }
}
