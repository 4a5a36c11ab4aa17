use super::*;
use crate::codes::H3_SETTINGS_ERROR;
use crate::proto::error::Scope;
use bytes::BytesMut;

pub(super) const LIMITS: FrameLimits = FrameLimits {
    max_field_section: 1024,
    max_settings: 64,
    webtransport: true,
};

pub(super) fn frame(ty: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_header(ty, payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out.to_vec()
}

/// A frame header declaring `len` bytes, without the payload.
fn head(ty: u64, len: u64) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_header(ty, len, &mut out);
    out.to_vec()
}

/// Feeds `chunks` one after the other; the frames, with the DATA chunks of one frame merged,
/// and the error that stopped it, if any.
pub(super) fn feed(kind: StreamKind, chunks: &[&[u8]]) -> (Vec<Frame>, Option<ProtoError>) {
    let mut d = FrameDecoder::new(kind, LIMITS);
    let mut frames = Vec::new();
    for c in chunks {
        let mut chunk = Bytes::copy_from_slice(c);
        loop {
            match d.decode(&mut chunk) {
                Ok(Some(Frame::Data(b))) => {
                    assert!(!b.is_empty(), "an empty DATA chunk");
                    match frames.last_mut() {
                        Some(Frame::Data(prev)) => {
                            let mut m = BytesMut::from(&prev[..]);
                            m.extend_from_slice(&b);
                            *prev = m.freeze();
                        }
                        _ => frames.push(Frame::Data(b)),
                    }
                }
                Ok(Some(Frame::WebTransportStream(id))) => {
                    frames.push(Frame::WebTransportStream(id));
                    return (frames, None);
                }
                Ok(Some(f)) => frames.push(f),
                Ok(None) => {
                    assert!(chunk.is_empty(), "Ok(None) with bytes left");
                    break;
                }
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

pub(super) fn err(kind: StreamKind, input: &[u8]) -> ProtoError {
    let (_, e) = feed(kind, &[input]);
    e.unwrap_or_else(|| panic!("no error for {input:02x?}"))
}

fn settings_frame() -> Vec<u8> {
    let mut out = BytesMut::new();
    Settings::encode_frame(&[(0x6, 4096), (0x21, 0)], &mut out);
    out.to_vec()
}

/// HEADERS, a grease frame, DATA, an empty DATA, DATA, an unknown frame, HEADERS (trailers).
pub(super) fn request_stream() -> Vec<u8> {
    let mut s = frame(HEADERS, b"\x00\x00\xd1");
    s.extend(frame(0x1f * 5 + 0x21, b"grease!"));
    s.extend(frame(DATA, b"hello "));
    s.extend(frame(DATA, b""));
    s.extend(frame(DATA, b"world"));
    s.extend(frame(0x3fff_ffff, &[7; 70]));
    s.extend(frame(HEADERS, b"\x00\x00"));
    s
}

pub(super) fn request_frames() -> Vec<Frame> {
    vec![
        Frame::Headers(Bytes::from_static(b"\x00\x00\xd1")),
        // The two DATA frames merge in `feed`.
        Frame::Data(Bytes::from_static(b"hello world")),
        Frame::Headers(Bytes::from_static(b"\x00\x00")),
    ]
}

#[test]
fn every_split_point_gives_the_same_frames() {
    let s = request_stream();
    assert_eq!(feed(StreamKind::Request, &[&s]), (request_frames(), None));
    for cut in 0..=s.len() {
        let (a, b) = s.split_at(cut);
        assert_eq!(
            feed(StreamKind::Request, &[a, b]),
            (request_frames(), None),
            "cut {cut}"
        );
        for cut2 in cut..=s.len() {
            let (b, c) = s[cut..].split_at(cut2 - cut);
            assert_eq!(feed(StreamKind::Request, &[a, b, c]).0, request_frames());
        }
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(feed(StreamKind::Request, &bytes), (request_frames(), None));
}

#[test]
fn data_is_a_zero_copy_slice_and_boundaries_are_reported() {
    let s = Bytes::from(frame(DATA, b"abcdef"));
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    assert!(d.at_boundary());
    let mut headers = Bytes::from(frame(HEADERS, b"\x00\x00\xd1"));
    assert!(matches!(
        d.decode(&mut headers),
        Ok(Some(Frame::Headers(_)))
    ));
    let mut first = s.slice(..4);
    let Some(Frame::Data(b)) = d.decode(&mut first).unwrap() else {
        panic!()
    };
    assert_eq!(&b[..], b"ab");
    assert_eq!(b.as_ptr(), s[2..].as_ptr());
    assert!(!d.at_boundary());
    let mut rest = s.slice(4..);
    assert_eq!(
        d.decode(&mut rest).unwrap(),
        Some(Frame::Data(Bytes::from_static(b"cdef")))
    );
    assert!(d.at_boundary());
    // Half a header is not a boundary.
    let mut half = Bytes::from_static(&[0x00]);
    assert_eq!(d.decode(&mut half).unwrap(), None);
    assert!(!d.at_boundary());
}

#[test]
fn headers_over_the_limit_fail_from_the_header_alone() {
    let h = head(HEADERS, 1 << 40);
    assert_eq!(h.len(), 9);
    let e = err(StreamKind::Request, &h);
    assert_eq!((e.code, e.scope), (H3_EXCESSIVE_LOAD, Scope::Stream));
    // Byte by byte: the error comes with the header's last byte, nothing before.
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    for b in &h[..8] {
        assert_eq!(d.decode(&mut Bytes::copy_from_slice(&[*b])).unwrap(), None);
    }
    assert_eq!(
        d.decode(&mut Bytes::copy_from_slice(&h[8..]))
            .unwrap_err()
            .code,
        H3_EXCESSIVE_LOAD
    );
    // The limit itself is fine.
    let big = frame(HEADERS, &[0; 1024]);
    assert_eq!(feed(StreamKind::Request, &[&big]).0.len(), 1);
    assert_eq!(
        err(StreamKind::Request, &head(HEADERS, 1025)).code,
        H3_EXCESSIVE_LOAD
    );
}

#[test]
fn a_partial_headers_payload_holds_what_came_not_what_was_declared() {
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    let mut first = Bytes::from([head(HEADERS, 1000), vec![0; 10]].concat());
    assert_eq!(d.decode(&mut first).unwrap(), None);
    let State::Payload { buf, .. } = &d.state else {
        panic!("{:?}", d.state)
    };
    assert!(
        buf.capacity() < 100,
        "{} reserved for 10 bytes",
        buf.capacity()
    );
    for _ in 0..98 {
        assert_eq!(d.decode(&mut Bytes::from_static(&[0; 10])).unwrap(), None);
    }
    let State::Payload { buf, .. } = &d.state else {
        panic!()
    };
    assert!(
        buf.capacity() <= 1000,
        "{} reserved for a 1000-byte frame",
        buf.capacity()
    );
    let frame = d.decode(&mut Bytes::from_static(&[0; 10])).unwrap();
    assert_eq!(frame, Some(Frame::Headers(Bytes::from(vec![0; 1000]))));
}

#[test]
fn a_huge_unknown_frame_streams_past_with_bounded_state() {
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    let mut h = Bytes::from(head(0x1f * 1000 + 0x21, 1 << 40));
    assert_eq!(d.decode(&mut h).unwrap(), None);
    // 64 MiB of it in 64 KiB chunks: all consumed, nothing yielded or kept.
    let block = Bytes::from(vec![0xaa; 64 * 1024]);
    for _ in 0..1024 {
        let mut c = block.clone();
        assert_eq!(d.decode(&mut c).unwrap(), None);
        assert!(c.is_empty());
        assert!(matches!(d.state, State::Skip(_)));
    }
    // A smaller unknown frame fed in pieces, then HEADERS.
    let mut s = head(0x21, 3 * 64 * 1024);
    s.extend(std::iter::repeat_n(0u8, 3 * 64 * 1024));
    s.extend(frame(HEADERS, b"\x00\x00"));
    let chunks: Vec<&[u8]> = s.chunks(4000).collect();
    assert_eq!(
        feed(StreamKind::Request, &chunks),
        (vec![Frame::Headers(Bytes::from_static(b"\x00\x00"))], None)
    );
}

#[test]
fn the_control_stream_starts_with_settings_once() {
    let mut s = settings_frame();
    s.extend(frame(0x21, b"x"));
    s.extend(frame(GOAWAY, &[0x40, 0x08]));
    s.extend(frame(MAX_PUSH_ID, &[0x03]));
    s.extend(frame(CANCEL_PUSH, &[0x00]));
    let (frames, e) = feed(StreamKind::Control, &[&s]);
    assert_eq!(e, None);
    let Frame::Settings(settings) = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(settings.get(0x6), Some(4096));
    assert_eq!(
        &frames[1..],
        &[Frame::GoAway(8), Frame::MaxPushId(3), Frame::CancelPush(0)]
    );

    // Anything else first, even a grease frame, and as soon as its type is read.
    for ty in [DATA, HEADERS, GOAWAY, 0x21, 0x1f * 9 + 0x21] {
        let e = err(StreamKind::Control, &head(ty, 0)[..varint::size(ty)]);
        assert_eq!(
            (e.code, e.scope),
            (H3_MISSING_SETTINGS, Scope::Connection),
            "{ty:#x}"
        );
    }
    let mut twice = settings_frame();
    twice.extend(settings_frame());
    assert_eq!(err(StreamKind::Control, &twice).code, H3_FRAME_UNEXPECTED);
    let e = err(StreamKind::Control, &head(SETTINGS, 65));
    assert_eq!((e.code, e.scope), (H3_FRAME_ERROR, Scope::Connection));
    let mut dup = head(SETTINGS, 4);
    dup.extend([0x06, 0x01, 0x06, 0x01]);
    assert_eq!(err(StreamKind::Control, &dup).code, H3_SETTINGS_ERROR);
}

#[test]
fn the_control_stream_refuses_request_and_http2_frames() {
    for ty in [
        DATA,
        HEADERS,
        PUSH_PROMISE,
        WEBTRANSPORT_STREAM,
        H2_PRIORITY,
        H2_PING,
        H2_WINDOW_UPDATE,
        H2_CONTINUATION,
    ] {
        let mut s = settings_frame();
        s.extend(&head(ty, 1)[..varint::size(ty)]);
        let e = err(StreamKind::Control, &s);
        assert_eq!(
            (e.code, e.scope),
            (H3_FRAME_UNEXPECTED, Scope::Connection),
            "{ty:#x}"
        );
    }
}

#[test]
fn id_frames_carry_exactly_one_varint() {
    for ty in [GOAWAY, MAX_PUSH_ID, CANCEL_PUSH] {
        for payload in [&[][..], &[0x01, 0x02], &[0x40], &[0; 9]] {
            let mut s = settings_frame();
            s.extend(frame(ty, payload));
            let e = err(StreamKind::Control, &s);
            assert_eq!(e.code, H3_FRAME_ERROR, "{ty:#x} {payload:?}");
        }
        // A length over 8 fails before the payload comes.
        let mut s = settings_frame();
        s.extend(head(ty, 1 << 30));
        assert_eq!(err(StreamKind::Control, &s).code, H3_FRAME_ERROR);
    }
}

#[test]
fn request_streams_refuse_control_frames() {
    for ty in [
        SETTINGS,
        GOAWAY,
        MAX_PUSH_ID,
        CANCEL_PUSH,
        PUSH_PROMISE,
        H2_PRIORITY,
        H2_PING,
        H2_WINDOW_UPDATE,
        H2_CONTINUATION,
    ] {
        let e = err(StreamKind::Request, &head(ty, 1 << 20)[..varint::size(ty)]);
        assert_eq!(
            (e.code, e.scope),
            (H3_FRAME_UNEXPECTED, Scope::Connection),
            "{ty:#x}"
        );
        let mut after = frame(HEADERS, b"\x00\x00");
        after.extend(head(ty, 0));
        assert_eq!(err(StreamKind::Request, &after).code, H3_FRAME_UNEXPECTED);
    }
}

#[test]
fn webtransport_stream_only_as_the_first_frame() {
    let mut s = head(WEBTRANSPORT_STREAM, 4);
    s.extend(b"raw bytes");
    for cut in 0..s.len() {
        let (a, b) = s.split_at(cut);
        let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
        let mut a = Bytes::copy_from_slice(a);
        let mut b = Bytes::copy_from_slice(b);
        let first = d.decode(&mut a).unwrap();
        let frame = first.or_else(|| d.decode(&mut b).unwrap());
        assert_eq!(frame, Some(Frame::WebTransportStream(4)), "cut {cut}");
        let rest = [a, b].concat();
        assert_eq!(&rest[..], b"raw bytes", "cut {cut}");
        assert!(d.at_boundary());
        let e = d.decode(&mut Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(e.code, H3_INTERNAL_ERROR);
    }
    let mut late = frame(0x21, b"");
    late.extend(head(WEBTRANSPORT_STREAM, 0));
    assert_eq!(err(StreamKind::Request, &late).code, H3_FRAME_ERROR);
}

#[test]
fn an_error_sticks() {
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    let e = d.decode(&mut Bytes::from(head(SETTINGS, 0))).unwrap_err();
    assert_eq!(d.decode(&mut Bytes::from(frame(DATA, b"x"))), Err(e));
    assert_eq!(d.decode(&mut Bytes::new()), Err(e));
    assert!(!d.at_boundary());
}

#[test]
fn empty_payloads_complete_without_more_input() {
    let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
    let mut h = Bytes::from(frame(HEADERS, b""));
    assert_eq!(
        d.decode(&mut h).unwrap(),
        Some(Frame::Headers(Bytes::new()))
    );
    let mut c = FrameDecoder::new(StreamKind::Control, LIMITS);
    let mut s = Bytes::from(frame(SETTINGS, b""));
    assert_eq!(
        c.decode(&mut s).unwrap(),
        Some(Frame::Settings(Settings::default()))
    );
}

#[test]
fn encodes_goaway() {
    let mut out = BytesMut::new();
    encode_goaway(0, &mut out);
    encode_goaway(16384, &mut out);
    assert_eq!(
        &out[..],
        &[0x07, 0x01, 0x00, 0x07, 0x04, 0x80, 0x00, 0x40, 0x00]
    );
    let mut s = settings_frame();
    s.extend_from_slice(&out);
    assert_eq!(
        feed(StreamKind::Control, &[&s]).0[1..],
        [Frame::GoAway(0), Frame::GoAway(16384)]
    );
}

#[test]
fn control_frames_survive_every_split_point() {
    let mut s = settings_frame();
    s.extend(frame(0x1f * 2 + 0x21, &[1; 40]));
    s.extend(frame(MAX_PUSH_ID, &[0x80, 0, 0x40, 0]));
    s.extend(frame(GOAWAY, &[0xc0, 0, 0, 0, 0, 0, 0, 4]));
    let (whole, e) = feed(StreamKind::Control, &[&s]);
    assert_eq!(e, None);
    assert_eq!(&whole[1..], &[Frame::MaxPushId(16384), Frame::GoAway(4)]);
    for cut in 0..=s.len() {
        let (a, b) = s.split_at(cut);
        assert_eq!(
            feed(StreamKind::Control, &[a, b]),
            (whole.clone(), None),
            "cut {cut}"
        );
    }
    // SETTINGS of exactly the limit is fine, one byte more is not.
    let mut at_limit = head(SETTINGS, 64);
    at_limit.extend((0..32).flat_map(|i| [0x09 + i, 0]));
    assert_eq!(feed(StreamKind::Control, &[&at_limit]).1, None);
    assert_eq!(
        err(StreamKind::Control, &head(SETTINGS, 65)).code,
        H3_FRAME_ERROR
    );
}
