use super::*;
use crate::proto::varint;

const MAX: u64 = 16 * 1024;

/// The payload of the one HEADERS frame in `frame`.
fn payload(frame: &BytesMut) -> Bytes {
    assert_eq!(frame[0], 0x01);
    let (len, n) = varint::decode(&frame[1..]).unwrap();
    assert_eq!(
        1 + n + len as usize,
        frame.len(),
        "the length is the payload's"
    );
    Bytes::copy_from_slice(&frame[1 + n..])
}

#[test]
fn encodes_responses_that_decode_back() {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
    headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    headers.insert("x-id", HeaderValue::from_static("42"));
    let mut out = BytesMut::new();
    encode_response(StatusCode::OK, &headers, &mut out);
    // Short: a one-byte length; :status 200 and content-type text/plain are static lines.
    assert_eq!(&out[..5], &[0x01, out.len() as u8 - 2, 0x00, 0x00, 0xd9]);
    // Decoded as trailers after the :status line, which decode_trailers would refuse.
    let block = payload(&out);
    let trailers = decode_trailers(
        &block
            .slice(..2)
            .iter()
            .chain(&block[3..])
            .copied()
            .collect::<Vec<u8>>()
            .into(),
        MAX,
    )
    .unwrap();
    assert_eq!(trailers.len(), 4);
    assert_eq!(trailers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(trailers.get_all(header::SET_COOKIE).iter().count(), 2);
    assert_eq!(trailers["x-id"], "42");
    assert!(!trailers.contains_key(header::CONNECTION));

    for status in [
        StatusCode::NO_CONTENT,
        StatusCode::IM_A_TEAPOT,
        StatusCode::from_u16(599).unwrap(),
    ] {
        let mut out = BytesMut::new();
        encode_response(status, &HeaderMap::new(), &mut out);
        let block = payload(&out);
        let mut d = FieldDecoder::new(&block).unwrap();
        let line = d.next_line().unwrap().unwrap();
        assert_eq!(line.value.as_bytes(), status.as_str().as_bytes());
        assert!(d.next_line().unwrap().is_none());
    }
}

#[test]
fn frame_lengths_of_every_size_are_right() {
    for len in [10, 100, 20_000, 70_000] {
        let mut headers = HeaderMap::new();
        headers.insert("x-big", HeaderValue::from_bytes(&vec![b'v'; len]).unwrap());
        let mut out = BytesMut::from(&b"before"[..]);
        encode_trailers(&headers, &mut out);
        let frame = BytesMut::from(&out[6..]);
        let t = decode_trailers(&payload(&frame), u64::MAX).unwrap();
        assert_eq!(t["x-big"].len(), len);
        assert_eq!(&out[..6], b"before");
    }
}
