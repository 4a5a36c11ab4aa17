use super::tests::{err, feed, frame, request_frames, request_stream, LIMITS};
use super::*;
use crate::proto::error::Scope;
use bytes::BytesMut;

#[test]
fn a_request_stream_is_a_head_data_and_trailers_in_that_order() {
    // DATA, empty or not, before HEADERS; HEADERS or DATA (empty too) after the trailers.
    let trailed = request_stream();
    for (what, input) in [
        ("DATA first", frame(DATA, b"x")),
        ("empty DATA first", frame(DATA, b"")),
        (
            "DATA after trailers",
            [&trailed[..], &frame(DATA, b"x")].concat(),
        ),
        (
            "empty DATA after trailers",
            [&trailed[..], &frame(DATA, b"")].concat(),
        ),
        (
            "HEADERS after trailers",
            [&trailed[..], &frame(HEADERS, b"\x00\x00")].concat(),
        ),
    ] {
        let e = err(StreamKind::Request, &input);
        assert_eq!(
            (e.code, e.scope),
            (H3_FRAME_UNEXPECTED, Scope::Connection),
            "{what}"
        );
    }
    // Unknown and reserved frames may follow the trailers.
    let after = [&trailed[..], &frame(0x1f * 9 + 0x21, b"ok")].concat();
    assert_eq!(
        feed(StreamKind::Request, &[&after]),
        (request_frames(), None)
    );
}

#[test]
fn without_webtransport_its_frame_type_is_unknown_and_skipped() {
    let plain = FrameLimits {
        webtransport: false,
        ..LIMITS
    };
    let signal = frame(WEBTRANSPORT_STREAM, b"ab");
    let stream = [&signal[..], &request_stream(), &signal].concat();
    let mut d = FrameDecoder::new(StreamKind::Request, plain);
    let mut chunk = Bytes::from(stream);
    let mut frames = Vec::new();
    while let Some(f) = d.decode(&mut chunk).unwrap() {
        frames.push(f);
    }
    assert!(chunk.is_empty() && d.at_boundary());
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert!(!frames
        .iter()
        .any(|f| matches!(f, Frame::WebTransportStream(_))));
    // On the control stream too.
    let mut control = FrameDecoder::new(StreamKind::Control, plain);
    let mut settings = BytesMut::new();
    Settings::encode_frame(&[], &mut settings);
    let mut chunk = Bytes::from([&settings[..], &signal].concat());
    assert!(matches!(
        control.decode(&mut chunk),
        Ok(Some(Frame::Settings(_)))
    ));
    assert_eq!(control.decode(&mut chunk), Ok(None));
}
