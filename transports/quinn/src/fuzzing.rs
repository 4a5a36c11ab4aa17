//! Not API: a door for the fuzz targets in `fuzz/` and the stable corpus loop in
//! `tests/fuzz_corpus.rs` into the HTTP/3 codec, which is private. Each function panics only
//! if a property of the codec does not hold, whatever `data` is.

use bytes::{Bytes, BytesMut};

use crate::proto::frame::{Frame, FrameDecoder, FrameLimits, StreamKind};
use crate::proto::message::{decode_request, decode_trailers, encode_trailers};
use crate::proto::qpack::{huffman, DecoderStreamReader, EncoderStreamReader};
use crate::proto::ProtoError;

const LIMITS: FrameLimits = FrameLimits {
    max_field_section: 4096,
    max_settings: 256,
    webtransport: true,
};

/// What one run of a [`FrameDecoder`] over a stream gave: the frames (a DATA frame's
/// chunks merged), the error that stopped it, and whether it ended at a frame boundary.
#[derive(Debug, PartialEq)]
struct Run {
    frames: Vec<Frame>,
    error: Option<ProtoError>,
    at_boundary: bool,
}

fn run(kind: StreamKind, chunks: impl Iterator<Item = Bytes>) -> Run {
    let mut d = FrameDecoder::new(kind, LIMITS);
    let mut frames: Vec<Frame> = Vec::new();
    let mut data = BytesMut::new();
    let mut error = None;
    'chunks: for mut chunk in chunks {
        loop {
            match d.decode(&mut chunk) {
                Ok(Some(Frame::Data(b))) => {
                    assert!(!b.is_empty(), "an empty DATA chunk");
                    data.extend_from_slice(&b);
                }
                Ok(Some(f)) => {
                    if !data.is_empty() {
                        frames.push(Frame::Data(data.split().freeze()));
                    }
                    let raw = matches!(f, Frame::WebTransportStream(_));
                    frames.push(f);
                    if raw {
                        break 'chunks;
                    }
                }
                Ok(None) => {
                    assert!(chunk.is_empty(), "Ok(None) with bytes left");
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break 'chunks;
                }
            }
        }
    }
    if !data.is_empty() {
        frames.push(Frame::Data(data.freeze()));
    }
    Run {
        frames,
        error,
        at_boundary: d.at_boundary(),
    }
}

/// Decodes `data` (after its first byte, which picks the chunk sizes) as a control stream or
/// a request stream, once whole and once in chunks: both must give the same frames, error
/// and end state, and no call may return without using its whole chunk. Returns how many
/// frames came before the end or the first error.
pub fn frames(kind_is_control: bool, data: &[u8]) -> usize {
    let kind = if kind_is_control {
        StreamKind::Control
    } else {
        StreamKind::Request
    };
    let Some((&seed, stream)) = data.split_first() else {
        return 0;
    };
    let stream = Bytes::copy_from_slice(stream);
    let whole = run(kind, std::iter::once(stream.clone()));
    // Chunk sizes from a small generator seeded by the first byte: 1 to 16 bytes, or more.
    let mut x = u32::from(seed) | 0x100;
    let mut at = 0;
    let chunks = std::iter::from_fn(|| {
        if at >= stream.len() {
            return None;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = if x & 0x80 != 0 {
            (x >> 8) as usize % 512
        } else {
            (x >> 8) as usize % 17
        };
        let end = (at + n).min(stream.len());
        let chunk = stream.slice(at..end);
        at = end;
        Some(chunk)
    });
    let chunked = run(kind, chunks);
    assert_eq!(whole, chunked, "seed {seed}");
    whole.frames.len()
}

/// What [`field_section`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The input was a valid request head.
    pub request: bool,
    /// The input was a valid trailer section.
    pub trailers: bool,
}

/// Decodes `data` as a request's field section and as trailers; trailers that decode must
/// encode and decode back to the same fields. Feeds it to both QPACK stream readers (in two
/// pieces) and to the Huffman decoder (a string that decodes must encode back to itself).
pub fn field_section(data: &[u8]) -> Decoded {
    let block = Bytes::copy_from_slice(data);
    let request = decode_request(&block, 4096);
    if let Ok(head) = &request {
        if let Some(n) = head.content_length {
            assert!(
                head.headers.contains_key(http::header::CONTENT_LENGTH),
                "{n}"
            );
        }
        assert!(head.uri.authority().is_some(), "{:?}", head.uri);
    }
    let trailers = decode_trailers(&block, 4096);
    if let Ok(trailers) = &trailers {
        let mut frame = BytesMut::new();
        encode_trailers(trailers, &mut frame);
        let mut chunk = frame.freeze();
        let mut d = FrameDecoder::new(StreamKind::Request, LIMITS);
        let Ok(Some(Frame::Headers(again))) = d.decode(&mut chunk) else {
            panic!("encoded trailers are not one HEADERS frame");
        };
        assert!(chunk.is_empty());
        let decoded = decode_trailers(&again, 4096);
        assert_eq!(decoded.as_ref().ok(), Some(trailers));
    }
    let half = data.len() / 2;
    let mut enc = EncoderStreamReader::new();
    let ok = enc.feed(&data[..half]).is_ok() && enc.feed(&data[half..]).is_ok();
    assert_eq!(ok, data.iter().all(|&b| b == 0x20));
    let mut dec = DecoderStreamReader::new();
    let _ = dec
        .feed(&data[..half])
        .and_then(|()| dec.feed(&data[half..]));
    let mut out = BytesMut::new();
    if huffman::decode(data, &mut out).is_ok() {
        let mut again = BytesMut::new();
        huffman::encode(&out, &mut again);
        assert_eq!(&again[..], data);
    }
    Decoded {
        request: request.is_ok(),
        trailers: trailers.is_ok(),
    }
}
