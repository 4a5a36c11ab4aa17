use super::*;
use crate::codes::QPACK_DECOMPRESSION_FAILED;
use crate::proto::error::Scope;
use crate::proto::qpack::int;
use crate::proto::varint;

const MAX: u64 = 16 * 1024;

/// A field section of literal lines with literal names (no Huffman), so any name, value and
/// order can be sent.
fn section(fields: &[(&str, &str)]) -> Bytes {
    let mut out = BytesMut::from(&[0u8, 0][..]);
    for (name, value) in fields {
        int::encode(0x20, 3, name.len() as u64, &mut out);
        out.extend_from_slice(name.as_bytes());
        int::encode(0, 7, value.len() as u64, &mut out);
        out.extend_from_slice(value.as_bytes());
    }
    out.freeze()
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "example.com"),
    (":path", "/a?b=c"),
];

fn with(base: &[(&'static str, &'static str)], extra: &[(&'static str, &'static str)]) -> Bytes {
    let all: Vec<_> = base.iter().chain(extra).copied().collect();
    section(&all)
}

fn request(fields: &[(&str, &str)]) -> Result<RequestHead, ProtoError> {
    decode_request(&section(fields), MAX)
}

fn refused(fields: &[(&str, &str)]) -> &'static str {
    let e = request(fields).unwrap_err();
    assert_eq!(
        (e.code, e.scope),
        (H3_MESSAGE_ERROR, Scope::Stream),
        "{fields:?}: {e}"
    );
    e.reason
}

#[test]
fn decodes_a_request_from_ls_qpack() {
    // The browser-like request of qpack::field's tests, as pylsqpack 1.0.0 encodes it.
    let block = Bytes::from(
        (0..)
            .step_by(2)
            .map_while(|i| LS_QPACK.get(i..i + 2))
            .map(|h| u8::from_str_radix(h, 16).unwrap())
            .collect::<Vec<u8>>(),
    );
    let head = decode_request(&block, MAX).unwrap();
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri, "https://example.com/index.html?x=1");
    assert_eq!(head.content_length, Some(0));
    assert_eq!(head.protocol, None);
    let h = &head.headers;
    assert_eq!(h.len(), 8);
    assert_eq!(
        h.get_all(header::COOKIE).iter().collect::<Vec<_>>(),
        ["a=1", "b=2"]
    );
    assert_eq!(h["x-custom-header"], "Some Value");
    assert_eq!(h[header::ACCEPT_ENCODING], "gzip, deflate, br");
    assert!(h[header::USER_AGENT]
        .to_str()
        .unwrap()
        .starts_with("Mozilla/5.0"));
}

const LS_QPACK: &str = "0000d1d750882f91d35d055c87a7518c60d5485f2bce9a68ff3cc01f5f50b5d07f66a281b0dae053\
    fafc087ed4ce6aadf2a7979c89c6bed4b3bdc089e5c1fda988a4ea76040080010054c26b0b29fcb0113cb83fdddf5582\
    1c015503623d322f04f2b12d424f4ad3947216cf88dc7a4aa711d1697fc45f4586ba51d85b14f3";

#[test]
fn decodes_the_testkit_request() {
    // twinport-testkit's own QPACK builder: static references and literal names.
    let frame =
        twinport_testkit::frames::h3_headers_frame(&[("x-a", b"1"), ("content-length", b"3")]);
    let (_, n) = varint::decode(&frame[1..]).unwrap();
    let head = decode_request(&Bytes::copy_from_slice(&frame[1 + n..]), MAX).unwrap();
    assert_eq!(
        (head.method, head.uri.to_string()),
        (Method::GET, "https://localhost/ok".into())
    );
    assert_eq!(head.content_length, Some(3));
    assert_eq!(head.headers["x-a"], "1");
}

#[test]
fn values_are_shared_with_the_section_not_copied() {
    let block = with(&GET, &[("x-long", "a value that stays where it came")]);
    let head = decode_request(&block, MAX).unwrap();
    let v = head.headers["x-long"].as_bytes();
    let range = block.as_ptr_range();
    assert!(range.contains(&v.as_ptr()), "the value was copied");
    assert!(
        range.contains(&head.uri.path().as_ptr()),
        "the path was copied"
    );
}

#[test]
fn accepts_every_valid_form() {
    let head = request(&[
        (":method", "OPTIONS"),
        (":scheme", "https"),
        (":authority", "h"),
        (":path", "*"),
    ])
    .unwrap();
    assert_eq!(head.uri.path(), "*");
    // host instead of :authority, or both the same.
    let head = request(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("host", "h:8"),
    ])
    .unwrap();
    assert_eq!(head.uri, "http://h:8/");
    assert!(request(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "h"),
        (":path", "/"),
        ("host", "h")
    ])
    .is_ok());
    let head = decode_request(
        &with(
            &GET,
            &[
                ("te", "Trailers"),
                ("content-length", "5, 5"),
                ("content-length", "5"),
            ],
        ),
        MAX,
    )
    .unwrap();
    assert_eq!(head.content_length, Some(5));
    // Plain CONNECT: only the authority.
    let head = request(&[(":method", "CONNECT"), (":authority", "proxy.example:443")]).unwrap();
    assert_eq!(
        (head.method, head.uri.to_string()),
        (Method::CONNECT, "proxy.example:443".into())
    );
    assert_eq!(head.protocol, None);
    // Extended CONNECT (RFC 9220).
    let head = request(&[
        (":method", "CONNECT"),
        (":protocol", "webtransport"),
        (":scheme", "https"),
        (":authority", "h"),
        (":path", "/wt"),
    ])
    .unwrap();
    assert_eq!(head.protocol.as_deref(), Some(&b"webtransport"[..]));
    assert_eq!(head.uri, "https://h/wt");
    // An extension method.
    let mut m = GET;
    m[0].1 = "PROPFIND";
    assert_eq!(request(&m).unwrap().method.as_str(), "PROPFIND");
}

#[test]
fn refuses_malformed_pseudo_headers() {
    let [m, s, a, p] = GET;
    assert_eq!(refused(&[s, a, p]), "no :method");
    assert_eq!(refused(&[m, a, p]), "no :scheme");
    assert_eq!(refused(&[m, s, a]), "no :path");
    assert_eq!(refused(&[m, s, p]), "no :authority or host");
    assert_eq!(refused(&[m, s, a, p, m]), "a pseudo-header twice");
    assert_eq!(
        refused(&[m, s, ("x", "1"), a, p]),
        "a pseudo-header after a regular field"
    );
    assert_eq!(
        refused(&[m, s, a, p, (":status", "200")]),
        ":status in a request"
    );
    assert_eq!(
        refused(&[m, s, a, p, (":foo", "1")]),
        "an unknown pseudo-header"
    );
    assert_eq!(
        refused(&[(":method", "G T"), s, a, p]),
        "an invalid :method"
    );
    assert_eq!(
        refused(&[m, (":scheme", "h s"), a, p]),
        "an invalid :scheme"
    );
    assert_eq!(
        refused(&[m, s, a, (":path", "")]),
        "a :path that is neither absolute nor * for OPTIONS"
    );
    assert_eq!(
        refused(&[m, s, a, (":path", "*")]),
        "a :path that is neither absolute nor * for OPTIONS"
    );
    assert_eq!(
        refused(&[m, s, a, (":path", "a/b")]),
        "a :path that is neither absolute nor * for OPTIONS"
    );
    assert_eq!(refused(&[m, s, a, (":path", "/a b")]), "an invalid :path");
    assert_eq!(
        refused(&[m, s, (":authority", ""), p]),
        "an empty authority"
    );
    assert_eq!(
        refused(&[m, s, (":authority", "u:p@h"), p]),
        "userinfo in the authority"
    );
    assert_eq!(
        refused(&[m, s, (":authority", "h/x"), p]),
        "an invalid authority"
    );
    assert_eq!(
        refused(&[m, s, a, p, ("host", "other")]),
        ":authority and host differ"
    );
    assert_eq!(
        refused(&[m, s, p, ("host", "h"), ("host", "h")]),
        "more than one host field"
    );
    assert_eq!(refused(&[m, s, p, ("host", "")]), "an empty authority");
}

#[test]
fn refuses_malformed_connect_requests() {
    let c = (":method", "CONNECT");
    assert_eq!(
        refused(&[c, (":authority", "h:1"), (":path", "/")]),
        ":scheme or :path in a CONNECT"
    );
    assert_eq!(
        refused(&[c, (":authority", "h:1"), (":scheme", "https")]),
        ":scheme or :path in a CONNECT"
    );
    assert_eq!(refused(&[c]), "a CONNECT without :authority");
    assert_eq!(
        refused(&[c, ("host", "h:1")]),
        "a CONNECT without :authority"
    );
    let [m, s, a, p] = GET;
    assert_eq!(
        refused(&[m, (":protocol", "websocket"), s, a, p]),
        ":protocol without CONNECT"
    );
    let pr = (":protocol", "websocket");
    assert_eq!(refused(&[c, pr, s, a]), "no :path");
    assert_eq!(refused(&[c, pr, a, p]), "no :scheme");
    assert_eq!(refused(&[c, pr, s, p]), "no :authority or host");
}

#[test]
fn refuses_malformed_fields() {
    for (name, value) in [
        ("Content-Type", "text/plain"),
        ("x y", "1"),
        ("", "1"),
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("keep-alive", "5"),
        ("proxy-connection", "keep-alive"),
        ("te", "gzip"),
        ("x-nul", "a\0b"),
        ("x-lf", "a\nb"),
        ("x-cr", "a\rb"),
        ("content-length", "abc"),
        ("content-length", ""),
        ("content-length", "-1"),
        ("content-length", "1,2"),
        ("content-length", "99999999999999999999"),
        ("content-length", "+5"),
    ] {
        refused(&[GET[0], GET[1], GET[2], GET[3], (name, value)]);
    }
    let e = refused(&[
        GET[0],
        GET[1],
        GET[2],
        GET[3],
        ("content-length", "5"),
        ("content-length", "6"),
    ]);
    assert_eq!(e, "conflicting content-length values");
}

#[test]
fn counts_the_decoded_size_against_the_limit() {
    let block = with(&GET, &[("x-pad", "0123456789")]);
    // name + value + 32 per field.
    let size: u64 = GET
        .iter()
        .chain(&[("x-pad", "0123456789")])
        .map(|(n, v)| (n.len() + v.len() + 32) as u64)
        .sum();
    assert!(decode_request(&block, size).is_ok());
    let e = decode_request(&block, size - 1).unwrap_err();
    assert_eq!((e.code, e.scope), (H3_EXCESSIVE_LOAD, Scope::Stream));
    let e = decode_trailers(&section(&[("x-pad", "0123456789")]), 46).unwrap_err();
    assert_eq!(e.code, H3_EXCESSIVE_LOAD);
}

#[test]
fn more_names_than_a_header_map_holds_is_excessive_load_not_a_panic() {
    let names: Vec<String> = (0..33_000).map(|i| format!("x{i}")).collect();
    let fields: Vec<(&str, &str)> = GET
        .iter()
        .copied()
        .chain(names.iter().map(|n| (n.as_str(), "")))
        .collect();
    let e = decode_request(&section(&fields), u64::MAX).unwrap_err();
    assert_eq!((e.code, e.scope), (H3_EXCESSIVE_LOAD, Scope::Stream));
}

#[test]
fn qpack_errors_are_connection_errors() {
    for block in [&b""[..], b"\x01\x00", b"\x00\x00\x80", b"\x00\x00\x5f\x7f"] {
        let e = decode_request(&Bytes::copy_from_slice(block), MAX).unwrap_err();
        assert_eq!(
            (e.code, e.scope),
            (QPACK_DECOMPRESSION_FAILED, Scope::Connection)
        );
        let e = decode_trailers(&Bytes::copy_from_slice(block), MAX).unwrap_err();
        assert_eq!(e.code, QPACK_DECOMPRESSION_FAILED);
    }
}

#[test]
fn decodes_trailers() {
    let t = decode_trailers(&section(&[("grpc-status", "0"), ("x-sum", "abc")]), MAX).unwrap();
    assert_eq!((t.len(), t["grpc-status"].as_bytes()), (2, &b"0"[..]));
    assert!(decode_trailers(&section(&[]), MAX).unwrap().is_empty());
    for bad in [
        (":path", "/"),
        (":status", "200"),
        ("connection", "close"),
        ("X-Up", "1"),
    ] {
        let e = decode_trailers(&section(&[bad]), MAX).unwrap_err();
        assert_eq!(
            (e.code, e.scope),
            (H3_MESSAGE_ERROR, Scope::Stream),
            "{bad:?}"
        );
    }
}

/// A sanity check of the per-request cost, not a benchmark: decoding a typical request many
/// times stays a pure function of its input.
#[test]
fn decoding_is_repeatable() {
    let block = with(&GET, &[("user-agent", "x/1"), ("accept", "*/*")]);
    let first = decode_request(&block, MAX).unwrap();
    for _ in 0..10_000 {
        let head = decode_request(&block, MAX).unwrap();
        assert_eq!(
            (head.uri, head.headers.len()),
            (first.uri.clone(), first.headers.len())
        );
    }
}
