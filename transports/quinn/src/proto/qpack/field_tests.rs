use super::*;
use crate::proto::qpack::static_table::StaticName;

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn name_of(n: &Name) -> Vec<u8> {
    match n {
        Name::Static(e) => match &e.name {
            StaticName::Header(h) => h.as_str().as_bytes().to_vec(),
            StaticName::Pseudo(p) => p.as_str().as_bytes().to_vec(),
        },
        Name::Literal(b) => b.to_vec(),
    }
}

/// Decoded (name, value) pairs.
type Lines = Vec<(Vec<u8>, Vec<u8>)>;

fn decode_all(block: &Bytes) -> Result<Lines, ProtoError> {
    let mut d = FieldDecoder::new(block)?;
    let mut out = Vec::new();
    while let Some(line) = d.next_line()? {
        assert_eq!(
            line.size(),
            (name_of(&line.name).len() + line.value.as_bytes().len() + 32) as u64
        );
        out.push((name_of(&line.name), line.value.as_bytes().to_vec()));
    }
    Ok(out)
}

fn pairs(p: &[(&str, &str)]) -> Lines {
    p.iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn decodes_the_rfc_9204_static_example() {
    // RFC 9204 Appendix B.1: a literal field line with a static name reference.
    let block = hex("0000 510b 2f69 6e64 6578 2e68 746d 6c");
    assert_eq!(
        decode_all(&block).unwrap(),
        pairs(&[(":path", "/index.html")])
    );
}

/// A browser-like request as ls-qpack (pylsqpack 1.0.0, capacity 0) encodes it: indexed
/// lines, static name references and literal names, mostly Huffman-coded.
#[test]
fn decodes_what_ls_qpack_encodes() {
    let block = hex(
        "0000d1d750882f91d35d055c87a7518c60d5485f2bce9a68ff3cc01f5f50b5d07f66a281b0dae053fafc\
         087ed4ce6aadf2a7979c89c6bed4b3bdc089e5c1fda988a4ea76040080010054c26b0b29fcb0113cb83f\
         dddf55821c015503623d322f04f2b12d424f4ad3947216cf88dc7a4aa711d1697fc45f4586ba51d85b14f3",
    );
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    assert_eq!(
        decode_all(&block).unwrap(),
        pairs(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/index.html?x=1"),
            ("user-agent", ua),
            ("accept", "*/*"),
            ("accept-encoding", "gzip, deflate, br"),
            ("cookie", "a=1"),
            ("cookie", "b=2"),
            ("x-custom-header", "Some Value"),
            ("content-length", "0"),
            ("authorization", "Bearer x"),
        ])
    );
}

#[test]
fn literals_are_zero_copy_and_huffman_strings_share_one_buffer() {
    // :path "/a" as a plain literal, then two Huffman literals ("a" is 00011 + 111 padding).
    let block = hex("0000 5102 2f61 291f 811f");
    let mut d = FieldDecoder::new(&block).unwrap();
    let path = d.next_line().unwrap().unwrap();
    let Value::Literal(v) = &path.value else {
        panic!()
    };
    assert_eq!(v.as_ptr(), block[4..].as_ptr());
    let first = d.next_line().unwrap().unwrap();
    let (Name::Literal(n), Value::Literal(v)) = (&first.name, &first.value) else {
        panic!()
    };
    assert_eq!((&n[..], &v[..]), (&b"a"[..], &b"a"[..]));
    assert_eq!(distance(n, v), 1);
    assert!(d.next_line().unwrap().is_none());
}

/// How far apart two slices start (they come from the same allocation here).
fn distance(a: &[u8], b: &[u8]) -> usize {
    (b.as_ptr() as usize).wrapping_sub(a.as_ptr() as usize)
}

#[test]
fn every_dynamic_table_use_fails() {
    let cases = [
        ("0100", "a Required Insert Count"),
        ("0000 80", "indexed dynamic"),
        ("0000 4001 61", "literal with a dynamic name reference"),
        ("0000 10", "indexed post-base"),
        ("0000 0001 61", "literal with a post-base name reference"),
        ("0000 ff24", "static index 99"),
        (
            "0000 5f ff ff ff ff ff ff ff ff ff 01",
            "an index over 2^62",
        ),
    ];
    for (input, what) in cases {
        let e = decode_all(&hex(input)).unwrap_err();
        assert_eq!(e.code, QPACK_DECOMPRESSION_FAILED, "{what}");
        assert!(e.is_connection(), "{what}");
    }
    // The Base is skipped when nothing refers to the dynamic table.
    assert_eq!(
        decode_all(&hex("0085 d1")).unwrap(),
        pairs(&[(":method", "GET")])
    );
}

#[test]
fn malformed_sections_fail() {
    for input in [
        "",                               // no prefix
        "00",                             // no Base
        "0000 51",                        // no value
        "0000 5105 2f",                   // a value longer than the section
        "0000 2361 62",                   // a name longer than the section
        "0000 5181 00",                   // bad Huffman padding
        "0000 5184 ffffffff",             // EOS in Huffman
        "0000 517f ffffffffffffffffff7f", // a length over 2^62
    ] {
        let e = decode_all(&hex(input)).unwrap_err();
        assert_eq!(e.code, QPACK_DECOMPRESSION_FAILED, "{input}");
    }
    assert_eq!(decode_all(&hex("0000")).unwrap(), vec![]);
}

#[test]
fn every_truncation_fails_or_yields_a_prefix() {
    let block = hex("0000d1d750882f91d35d055c87a7518c60d5485f2bce9a68ff3cc01f2f04f2b12d424f4ad3947216cf88dc7a4aa711d1697f");
    let all = decode_all(&block).unwrap();
    for cut in 0..block.len() {
        if let Ok(lines) = decode_all(&block.slice(..cut)) {
            assert!(all.starts_with(&lines), "cut {cut}");
        }
    }
}
