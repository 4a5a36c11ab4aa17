//! The codec against ls-qpack (pylsqpack, the QPACK of aioquic), an independent encoder and
//! decoder, both ways, on random requests and responses: what ls-qpack encodes (Huffman where
//! it is shorter, static references) we decode, and what we encode ls-qpack decodes.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use twinport_testkit::peers;
use twinport_testkit::{Rng, TempDir};

use super::message::{decode_request, encode_response, encode_trailers};
use super::varint;

const STATIC_NAMES: [&str; 10] = [
    "user-agent",
    "accept",
    "accept-encoding",
    "content-type",
    "cookie",
    "authorization",
    "cache-control",
    "x-forwarded-for",
    "early-data",
    "accept-language",
];
const STATIC_VALUES: [&str; 6] = [
    "*/*",
    "gzip, deflate, br",
    "text/plain",
    "no-cache",
    "1",
    "",
];

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.index(from.len())]
}

fn text(rng: &mut Rng, alphabet: &[u8], max: usize) -> Vec<u8> {
    (0..rng.index(max + 1))
        .map(|_| alphabet[rng.index(alphabet.len())])
        .collect()
}

fn name(rng: &mut Rng) -> HeaderName {
    if rng.index(3) == 0 {
        return HeaderName::from_static(pick(rng, &STATIC_NAMES));
    }
    let mut n = text(rng, b"abcdefghijklmnopqrstuvwxyz0123456789-_.!", 40);
    n.insert(0, b'x');
    HeaderName::from_lowercase(&n).unwrap()
}

fn value(rng: &mut Rng) -> HeaderValue {
    if rng.index(4) == 0 {
        return HeaderValue::from_static(pick(rng, &STATIC_VALUES));
    }
    // Every byte a field value may have: visible ASCII, space, tab and obs-text.
    let alphabet: Vec<u8> = (0x20..=0xffu8)
        .filter(|&b| b != 0x7f)
        .chain([b'\t'])
        .collect();
    let mut v = HeaderValue::from_bytes(&text(rng, &alphabet, 90)).unwrap();
    v.set_sensitive(rng.index(8) == 0);
    v
}

fn headers(rng: &mut Rng) -> HeaderMap {
    let mut h = HeaderMap::new();
    for _ in 0..rng.index(12) {
        h.append(name(rng), value(rng));
    }
    h
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The field section inside a HEADERS frame we encoded.
fn section(frame: &[u8]) -> &[u8] {
    let (_, n) = varint::decode(&frame[1..]).unwrap();
    &frame[1 + n..]
}

struct Request {
    method: &'static str,
    uri: String,
    headers: HeaderMap,
    fields: Vec<[String; 2]>,
}

fn request(rng: &mut Rng) -> Request {
    let method = pick(
        rng,
        &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "PROPFIND"],
    );
    let scheme = pick(rng, &["https", "http"]);
    let authority = format!("h{}.example:{}", rng.index(100), 1 + rng.index(65535));
    let mut path = b"/".to_vec();
    path.extend(text(rng, b"abcXYZ019-._~/?=&%+!$'()*,;:@", 60));
    let path = String::from_utf8(path).unwrap();
    let headers = headers(rng);
    let mut fields = [
        [":method", method],
        [":scheme", scheme],
        [":authority", &authority],
        [":path", &path],
    ]
    .map(|[n, v]| [hex(n.as_bytes()), hex(v.as_bytes())])
    .to_vec();
    fields.extend(
        headers
            .iter()
            .map(|(n, v)| [hex(n.as_str().as_bytes()), hex(v.as_bytes())]),
    );
    Request {
        method,
        uri: format!("{scheme}://{authority}{path}"),
        headers,
        fields,
    }
}

#[tokio::test]
async fn ls_qpack_and_the_codec_understand_each_other() {
    let Some(python) = peers::python("pylsqpack") else {
        return;
    };
    let mut rng = Rng::new(0x1f5a_9e03_77c4_d2b1);
    let requests: Vec<Request> = (0..300).map(|_| request(&mut rng)).collect();
    let mut ours: Vec<(Vec<[String; 2]>, Vec<u8>)> = Vec::new();
    for i in 0..300 {
        let status = StatusCode::from_u16(100 + rng.index(500) as u16).unwrap();
        let mut h = headers(&mut rng);
        let mut frame = BytesMut::new();
        let mut expected = Vec::new();
        if i % 4 == 3 {
            // ls-qpack refuses an empty field section, so trailers have a field at least.
            h.append(name(&mut rng), value(&mut rng));
            encode_trailers(&h, &mut frame);
        } else {
            encode_response(status, &h, &mut frame);
            expected.push([hex(b":status"), hex(status.as_str().as_bytes())]);
        }
        expected.extend(
            h.iter()
                .map(|(n, v)| [hex(n.as_str().as_bytes()), hex(v.as_bytes())]),
        );
        ours.push((expected, section(&frame).to_vec()));
    }
    let job = serde_json::json!({
        "encode": requests.iter().map(|r| &r.fields).collect::<Vec<_>>(),
        "decode": ours.iter().map(|(_, block)| hex(block)).collect::<Vec<_>>(),
    });
    let dir = TempDir::new("qpack-peer");
    let input = dir.path("in.json");
    std::fs::write(&input, job.to_string()).unwrap();
    let script = peers::peer_script("qpack_peer.py");
    let out = peers::run(
        &python,
        &[script.to_str().unwrap(), input.to_str().unwrap()],
    )
    .await;
    assert!(out.success, "qpack_peer.py failed: {}", out.stderr);
    let answer: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();

    let mut huffman = 0;
    for (r, block) in requests.iter().zip(answer["encoded"].as_array().unwrap()) {
        let block = Bytes::from(unhex(block.as_str().unwrap()));
        // The H bit of a literal, roughly: ls-qpack chose Huffman for some strings.
        huffman += usize::from(block.iter().any(|&b| b & 0xe8 == 0x28 || b & 0xf0 == 0x50));
        let head = decode_request(&block, u64::MAX)
            .unwrap_or_else(|e| panic!("{e} for {:?} from {}", r.fields, hex(&block)));
        assert_eq!(head.method.as_str(), r.method);
        assert_eq!(head.uri.to_string(), r.uri);
        assert_eq!(head.headers.len(), r.headers.len(), "{:?}", r.fields);
        for name in r.headers.keys() {
            let got: Vec<_> = head.headers.get_all(name).iter().collect();
            let want: Vec<_> = r.headers.get_all(name).iter().collect();
            assert_eq!(got, want, "{name}");
        }
    }
    assert!(huffman > 100, "too few sections used Huffman: {huffman}");

    for ((expected, block), decoded) in ours.iter().zip(answer["decoded"].as_array().unwrap()) {
        let decoded: Vec<[String; 2]> = serde_json::from_value(decoded.clone())
            .unwrap_or_else(|_| panic!("ls-qpack refused {}: {decoded}", hex(block)));
        assert_eq!(&decoded, expected, "{}", hex(block));
    }
}
