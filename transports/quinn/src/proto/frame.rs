//! HTTP/3 frames (RFC 9114 §7): a sans-IO decoder that yields frames as bytes arrive, with
//! every size a peer declares checked against a limit before anything is buffered, and the
//! few frame encoders the server needs.

use bytes::{Buf, Bytes};

use super::error::ProtoError;
use super::settings::Settings;
use super::varint;

pub(crate) use super::frame_encode::{encode_frame_with, encode_goaway, encode_header};
use crate::codes::{
    H3_EXCESSIVE_LOAD, H3_FRAME_ERROR, H3_FRAME_UNEXPECTED, H3_INTERNAL_ERROR, H3_MISSING_SETTINGS,
};

/// DATA (RFC 9114 §7.2.1).
pub(crate) const DATA: u64 = 0x0;
/// HEADERS (RFC 9114 §7.2.2).
pub(crate) const HEADERS: u64 = 0x1;
/// PRIORITY of HTTP/2, reserved (RFC 9114 §7.2.8).
pub(crate) const H2_PRIORITY: u64 = 0x2;
/// CANCEL_PUSH (RFC 9114 §7.2.3).
pub(crate) const CANCEL_PUSH: u64 = 0x3;
/// SETTINGS (RFC 9114 §7.2.4).
pub(crate) const SETTINGS: u64 = 0x4;
/// PUSH_PROMISE (RFC 9114 §7.2.5).
pub(crate) const PUSH_PROMISE: u64 = 0x5;
/// PING of HTTP/2, reserved (RFC 9114 §7.2.8).
pub(crate) const H2_PING: u64 = 0x6;
/// GOAWAY (RFC 9114 §7.2.6).
pub(crate) const GOAWAY: u64 = 0x7;
/// WINDOW_UPDATE of HTTP/2, reserved (RFC 9114 §7.2.8).
pub(crate) const H2_WINDOW_UPDATE: u64 = 0x8;
/// CONTINUATION of HTTP/2, reserved (RFC 9114 §7.2.8).
pub(crate) const H2_CONTINUATION: u64 = 0x9;
/// MAX_PUSH_ID (RFC 9114 §7.2.7).
pub(crate) const MAX_PUSH_ID: u64 = 0xd;
/// WEBTRANSPORT_STREAM (draft-ietf-webtrans-http3 §4.2): opens a bidirectional WebTransport
/// stream; the session id follows instead of a length.
pub(crate) const WEBTRANSPORT_STREAM: u64 = 0x41;

/// At most this many pairs in a SETTINGS frame: real peers send a dozen; the bound keeps the
/// duplicate check cheap whatever `max_settings` is.
const MAX_SETTINGS_PAIRS: usize = 256;

/// Which stream a [`FrameDecoder`] reads (server side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// The peer's control stream, after its stream type.
    Control,
    /// A client's bidirectional request stream.
    Request,
}

/// The largest payloads a [`FrameDecoder`] buffers, and whether it knows WebTransport's
/// frame type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameLimits {
    /// HEADERS payload limit (`Http3Config::max_field_section_size`).
    pub max_field_section: u64,
    /// SETTINGS payload limit (small, e.g. 4 KiB).
    pub max_settings: u64,
    /// WebTransport is served; without it WEBTRANSPORT_STREAM is an unknown frame type,
    /// skipped like any other (RFC 9114 §9).
    pub webtransport: bool,
}

/// A frame, or a piece of one, as [`FrameDecoder::decode`] yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole HEADERS payload (an encoded field section), at most `max_field_section` long.
    Headers(Bytes),
    /// A chunk of a DATA payload, yielded as it arrives (a zero-copy slice of the input); one
    /// DATA frame may come as several chunks; empty DATA frames yield nothing.
    Data(Bytes),
    /// The peer's settings.
    Settings(Settings),
    /// GOAWAY with its stream or push id.
    GoAway(u64),
    /// MAX_PUSH_ID.
    MaxPushId(u64),
    /// CANCEL_PUSH.
    CancelPush(u64),
    /// Type 0x41 and a session id as the first thing on a request stream: the rest of the
    /// stream is raw WebTransport bytes; do not call `decode` again.
    WebTransportStream(u64),
}

#[derive(Debug)]
enum State {
    /// Between frames, or inside a frame header (its first bytes are in `head`).
    Header,
    /// Inside a DATA payload: this many bytes left.
    Data(u64),
    /// Inside the payload of a frame we ignore: this many bytes left.
    Skip(u64),
    /// Inside a payload yielded whole: its type, length, and what arrived so far.
    /// The buffer grows as bytes come, doubling but never past `len`: a peer that declares
    /// a large frame and sends a byte pins a byte, not the declared length.
    Payload { ty: u64, len: usize, buf: Vec<u8> },
    /// After WEBTRANSPORT_STREAM: the stream is not framed any more.
    Raw,
    /// An error was returned; it is returned again.
    Failed(ProtoError),
}

/// The frame header at the front of some bytes.
enum Head {
    /// Type and length (or session id), and how many bytes they took.
    Whole(u64, u64, usize),
    /// Only the type is complete so far.
    Type(u64),
    /// Not even the type.
    Nothing,
}

fn parse_head(buf: &[u8]) -> Head {
    let Some((ty, n)) = varint::decode(buf) else {
        return Head::Nothing;
    };
    match varint::decode(&buf[n..]) {
        Some((len, m)) => Head::Whole(ty, len, n + m),
        None => Head::Type(ty),
    }
}

/// Decodes the frames of one stream. Its state is bounded: a partial frame header (at most
/// 16 bytes) and a partial HEADERS or SETTINGS payload (at most its limit), nothing else.
#[derive(Debug)]
pub(crate) struct FrameDecoder {
    kind: StreamKind,
    limits: FrameLimits,
    state: State,
    head: [u8; 16],
    head_len: usize,
    /// No frame header has been read yet.
    first: bool,
    /// HEADERS frames begun on a request stream: the head, then the trailers.
    sections: u8,
}

impl FrameDecoder {
    /// A decoder for a stream of `kind`, at its first frame.
    pub(crate) fn new(kind: StreamKind, limits: FrameLimits) -> Self {
        Self {
            kind,
            limits,
            state: State::Header,
            head: [0; 16],
            head_len: 0,
            first: true,
            sections: 0,
        }
    }

    /// Consumes bytes from the front of `chunk` and returns the next frame, or `Ok(None)` when
    /// `chunk` is used up without completing one (call again with the next chunk). A declared
    /// length over the frame type's limit is an error at once, before any payload is
    /// buffered: H3_EXCESSIVE_LOAD (stream scope) for HEADERS over `max_field_section`,
    /// H3_FRAME_ERROR for SETTINGS over `max_settings` or a GOAWAY/MAX_PUSH_ID/CANCEL_PUSH
    /// payload that is not exactly one varint. Unknown and reserved (0x1f * N + 0x21) types
    /// are skipped as their payload streams past, never buffered. A frame type the stream
    /// kind does not allow is an error as soon as the type is read (see `check_type`).
    /// After an error, the same error comes back.
    pub(crate) fn decode(&mut self, chunk: &mut Bytes) -> Result<Option<Frame>, ProtoError> {
        match self.step(chunk) {
            Err(e) => {
                self.state = State::Failed(e);
                Err(e)
            }
            ok => ok,
        }
    }

    /// True between frames: a FIN elsewhere is H3_FRAME_ERROR (the caller checks at the end
    /// of the stream).
    pub(crate) fn at_boundary(&self) -> bool {
        match self.state {
            State::Header => self.head_len == 0,
            State::Raw => true,
            _ => false,
        }
    }

    fn step(&mut self, chunk: &mut Bytes) -> Result<Option<Frame>, ProtoError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(*e),
                State::Raw => {
                    return Err(ProtoError::connection(
                        H3_INTERNAL_ERROR,
                        "frames decoded after WEBTRANSPORT_STREAM",
                    ))
                }
                _ if chunk.is_empty() => return Ok(None),
                State::Header => {
                    if let Some(frame) = self.read_head(chunk)? {
                        return Ok(Some(frame));
                    }
                }
                State::Data(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len());
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Header;
                    }
                    return Ok(Some(Frame::Data(chunk.split_to(n))));
                }
                State::Skip(left) => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(chunk.len());
                    *left -= n as u64;
                    chunk.advance(n);
                    if *left == 0 {
                        self.state = State::Header;
                    }
                }
                State::Payload { ty, len, buf } => {
                    let (ty, len) = (*ty, *len);
                    let payload = if buf.is_empty() && chunk.len() >= len {
                        chunk.split_to(len)
                    } else {
                        let n = (len - buf.len()).min(chunk.len());
                        if buf.capacity() - buf.len() < n {
                            buf.reserve_exact(buf.len().max(n).min(len - buf.len()));
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        chunk.advance(n);
                        if buf.len() < len {
                            return Ok(None);
                        }
                        Bytes::from(std::mem::take(buf))
                    };
                    self.state = State::Header;
                    return self.finish(ty, payload).map(Some);
                }
            }
        }
    }

    /// Reads (more of) a frame header from `chunk`; once it is whole, starts the frame.
    fn read_head(&mut self, chunk: &mut Bytes) -> Result<Option<Frame>, ProtoError> {
        if self.head_len == 0 {
            match parse_head(chunk) {
                Head::Whole(ty, len, used) => {
                    chunk.advance(used);
                    return self.start(ty, len);
                }
                Head::Type(ty) => self.check_type(ty)?,
                Head::Nothing => {}
            }
            // Incomplete, so shorter than the 16 bytes of the longest header.
            self.head[..chunk.len()].copy_from_slice(chunk);
            self.head_len = chunk.len();
            chunk.clear();
            return Ok(None);
        }
        let old = self.head_len;
        let n = (self.head.len() - old).min(chunk.len());
        self.head[old..old + n].copy_from_slice(&chunk[..n]);
        match parse_head(&self.head[..old + n]) {
            Head::Whole(ty, len, used) => {
                chunk.advance(used - old);
                self.head_len = 0;
                self.start(ty, len)
            }
            partial => {
                if let Head::Type(ty) = partial {
                    self.check_type(ty)?;
                }
                chunk.advance(n);
                self.head_len = old + n;
                Ok(None)
            }
        }
    }

    /// Refuses a frame type this stream may not carry (RFC 9114 §7.2, §6.2.1), as soon as the
    /// type is known. Control: the first frame must be SETTINGS (H3_MISSING_SETTINGS), a
    /// second SETTINGS, DATA, HEADERS, PUSH_PROMISE, WEBTRANSPORT_STREAM (when known) and the HTTP/2 types
    /// are H3_FRAME_UNEXPECTED. Request: SETTINGS, GOAWAY, MAX_PUSH_ID, CANCEL_PUSH,
    /// PUSH_PROMISE and the HTTP/2 types are H3_FRAME_UNEXPECTED, and so are DATA before the
    /// first HEADERS and HEADERS or DATA after the second, the trailers (RFC 9114 §4.1: a
    /// client sends no interim head); WEBTRANSPORT_STREAM (when known) after the first frame
    /// H3_FRAME_ERROR.
    fn check_type(&self, ty: u64) -> Result<(), ProtoError> {
        let unexpected = || {
            Err(ProtoError::connection(
                H3_FRAME_UNEXPECTED,
                "frame not allowed on this stream",
            ))
        };
        match self.kind {
            StreamKind::Control => {
                if self.first && ty != SETTINGS {
                    return Err(ProtoError::connection(
                        H3_MISSING_SETTINGS,
                        "the control stream does not start with SETTINGS",
                    ));
                }
                match ty {
                    SETTINGS if !self.first => Err(ProtoError::connection(
                        H3_FRAME_UNEXPECTED,
                        "a second SETTINGS frame",
                    )),
                    DATA | HEADERS | PUSH_PROMISE => unexpected(),
                    WEBTRANSPORT_STREAM if self.limits.webtransport => unexpected(),
                    H2_PRIORITY | H2_PING | H2_WINDOW_UPDATE | H2_CONTINUATION => unexpected(),
                    _ => Ok(()),
                }
            }
            StreamKind::Request => match ty {
                DATA if self.sections == 0 => Err(ProtoError::connection(
                    H3_FRAME_UNEXPECTED,
                    "DATA before HEADERS",
                )),
                DATA | HEADERS if self.sections == 2 => Err(ProtoError::connection(
                    H3_FRAME_UNEXPECTED,
                    "HEADERS or DATA after the trailers",
                )),
                SETTINGS | GOAWAY | MAX_PUSH_ID | CANCEL_PUSH | PUSH_PROMISE => unexpected(),
                H2_PRIORITY | H2_PING | H2_WINDOW_UPDATE | H2_CONTINUATION => unexpected(),
                WEBTRANSPORT_STREAM if !self.first && self.limits.webtransport => {
                    Err(ProtoError::connection(
                        H3_FRAME_ERROR,
                        "WEBTRANSPORT_STREAM after the first frame",
                    ))
                }
                _ => Ok(()),
            },
        }
    }

    /// Starts a frame whose header is read: checks the declared length against the type's
    /// limit and picks how the payload is read.
    fn start(&mut self, ty: u64, len: u64) -> Result<Option<Frame>, ProtoError> {
        self.check_type(ty)?;
        self.first = false;
        if ty == HEADERS && self.kind == StreamKind::Request {
            self.sections += 1;
        }
        let buffered = |limit: u64| -> Result<usize, ProtoError> {
            debug_assert!(len <= limit);
            usize::try_from(len)
                .map_err(|_| ProtoError::connection(H3_EXCESSIVE_LOAD, "frame too large"))
        };
        self.state = match ty {
            DATA if len == 0 => State::Header,
            DATA => State::Data(len),
            HEADERS => {
                if len > self.limits.max_field_section {
                    return Err(ProtoError::stream(
                        H3_EXCESSIVE_LOAD,
                        "HEADERS larger than the field section limit",
                    ));
                }
                self.payload(ty, buffered(self.limits.max_field_section)?)
            }
            SETTINGS => {
                if len > self.limits.max_settings {
                    return Err(ProtoError::connection(
                        H3_FRAME_ERROR,
                        "SETTINGS larger than the limit",
                    ));
                }
                self.payload(ty, buffered(self.limits.max_settings)?)
            }
            GOAWAY | MAX_PUSH_ID | CANCEL_PUSH => {
                if len == 0 || len > 8 {
                    return Err(ProtoError::connection(
                        H3_FRAME_ERROR,
                        "a GOAWAY, MAX_PUSH_ID or CANCEL_PUSH payload that is not one varint",
                    ));
                }
                self.payload(ty, len as usize)
            }
            WEBTRANSPORT_STREAM if self.limits.webtransport => {
                self.state = State::Raw;
                return Ok(Some(Frame::WebTransportStream(len)));
            }
            _ if len == 0 => State::Header,
            _ => State::Skip(len),
        };
        // An empty payload is complete without more input.
        if let State::Payload { ty, len: 0, .. } = self.state {
            self.state = State::Header;
            return self.finish(ty, Bytes::new()).map(Some);
        }
        Ok(None)
    }

    fn payload(&self, ty: u64, len: usize) -> State {
        State::Payload {
            ty,
            len,
            buf: Vec::new(),
        }
    }

    /// The frame of a payload read whole.
    fn finish(&self, ty: u64, payload: Bytes) -> Result<Frame, ProtoError> {
        match ty {
            HEADERS => Ok(Frame::Headers(payload)),
            SETTINGS => {
                let max_pairs = usize::try_from(self.limits.max_settings / 2)
                    .unwrap_or(usize::MAX)
                    .min(MAX_SETTINGS_PAIRS);
                Settings::decode(&payload, max_pairs).map(Frame::Settings)
            }
            _ => {
                let id =
                    match varint::decode(&payload) {
                        Some((id, n)) if n == payload.len() => id,
                        _ => return Err(ProtoError::connection(
                            H3_FRAME_ERROR,
                            "a GOAWAY, MAX_PUSH_ID or CANCEL_PUSH payload that is not one varint",
                        )),
                    };
                Ok(match ty {
                    GOAWAY => Frame::GoAway(id),
                    MAX_PUSH_ID => Frame::MaxPushId(id),
                    _ => Frame::CancelPush(id),
                })
            }
        }
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "frame_order_tests.rs"]
mod order_tests;
