//! The control streams (RFC 9114 §6.2.1, §7.2): the server's own, which carries its SETTINGS
//! and GOAWAY, and the client's, whose SETTINGS, GOAWAY, MAX_PUSH_ID and CANCEL_PUSH frames
//! are read and checked as they come, unknown and reserved frames skipped without being
//! buffered, at most [`Http3Config::control_frame_rate`] frames a second.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::codes::{
    H3_CLOSED_CRITICAL_STREAM, H3_EXCESSIVE_LOAD, H3_ID_ERROR, H3_MISSING_SETTINGS,
    H3_SETTINGS_ERROR,
};
use crate::config::Http3Config;
use crate::connection::context::Ctx;
use crate::connection::rate::Rate;
use crate::proto::error::ProtoError;
use crate::proto::frame::{self, Frame, StreamKind};
use crate::proto::settings::{self as ids, Settings};
use crate::proto::varint;

/// The unidirectional stream type of a control stream.
const CONTROL_STREAM: u64 = 0x00;
/// Bytes of a QPACK stream that count as one instruction against the rate limit.
pub(crate) const BYTES_PER_FRAME: usize = 256;

/// The server's SETTINGS: no dynamic QPACK table, the header-section limit, and with
/// WebTransport extended CONNECT, HTTP/3 datagrams and the codepoints of the two drafts the
/// server speaks: draft-02's SETTINGS_ENABLE_WEBTRANSPORT and draft-07's
/// SETTINGS_WEBTRANSPORT_MAX_SESSIONS (the client's SETTINGS pick one, see
/// [`WebTransportDraft`](crate::webtransport::WebTransportDraft)). Draft-13 and later are
/// not offered: they require RESET_STREAM_AT, which quinn does not implement.
pub(crate) fn server_settings(config: &Http3Config, webtransport: bool) -> Vec<(u64, u64)> {
    let mut pairs = vec![
        (ids::QPACK_MAX_TABLE_CAPACITY, 0),
        (ids::QPACK_BLOCKED_STREAMS, 0),
        (ids::MAX_FIELD_SECTION_SIZE, config.max_field_section_size),
    ];
    if webtransport || config.serves_websockets() {
        // Extended CONNECT (RFC 9220 §3): WebTransport and WebSockets open with it.
        pairs.push((ids::ENABLE_CONNECT_PROTOCOL, 1));
    }
    if webtransport {
        pairs.push((ids::H3_DATAGRAM, 1));
        pairs.push((ids::ENABLE_WEBTRANSPORT, 1));
        let max = u64::from(config.max_webtransport_sessions);
        pairs.push((ids::WEBTRANSPORT_MAX_SESSIONS, max));
    }
    pairs
}

/// A reserved ("GREASE") codepoint, 0x1f * N + 0x21 (RFC 9114 §7.2.8, §7.2.4.1).
fn grease(n: u64) -> u64 {
    0x1f * (n % (1 << 20)) + 0x21
}

/// The server's control stream.
pub(crate) struct ControlSender {
    send: quinn::SendStream,
}

impl ControlSender {
    /// Opens it and writes the stream type and SETTINGS (and a reserved setting and frame
    /// with [`Http3Config::send_grease`]).
    pub(crate) async fn open(ctx: &Ctx) -> Result<Self, quinn::WriteError> {
        let mut send = ctx.quic.open_uni().await?;
        let mut pairs = server_settings(&ctx.config, ctx.wt.is_some());
        let n = ctx.quic.stable_id() as u64;
        if ctx.config.send_grease {
            pairs.push((grease(n), n & 0xff));
        }
        let mut out = BytesMut::with_capacity(128);
        varint::encode(CONTROL_STREAM, &mut out);
        Settings::encode_frame(&pairs, &mut out);
        if ctx.config.send_grease {
            frame::encode_header(grease(n + 1), 1, &mut out);
            out.extend_from_slice(&[0]);
        }
        send.write_all(&out).await?;
        Ok(Self { send })
    }

    /// Sends GOAWAY with `id`: request streams from it on are not processed.
    pub(crate) fn goaway(
        &mut self,
        id: u64,
    ) -> impl Future<Output = Result<(), quinn::WriteError>> + '_ {
        let mut out = BytesMut::with_capacity(16);
        frame::encode_goaway(id, &mut out);
        let send = &mut self.send;
        async move { send.write_all(&out).await }
    }
}

/// Closes the connection with H3_MISSING_SETTINGS unless the client's SETTINGS arrive within
/// `wait` ([`Http3Config::settings_timeout`]).
pub(crate) async fn require_settings(ctx: Arc<Ctx>, wait: Duration) {
    if ctx.client_settings(wait).await.is_none() {
        tracing::debug!(parent: &ctx.span, ?wait, "no SETTINGS from the client in time");
        ctx.fail(&ProtoError::connection(
            H3_MISSING_SETTINGS,
            "no SETTINGS from the client in time",
        ));
    }
}

/// Reads the client's control stream until it ends, which is always a connection error
/// (H3_CLOSED_CRITICAL_STREAM if it just closes).
pub(crate) async fn read_peer_control(ctx: &Ctx, mut recv: quinn::RecvStream) -> ProtoError {
    let mut decoder = ctx.decoder(StreamKind::Control);
    let rate = Rate::new(ctx.config.control_frame_rate);
    let mut push_limit: Option<u64> = None;
    let mut counter = FrameCounter::default();
    loop {
        let mut chunk: Bytes = match recv.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => chunk.bytes,
            Ok(None) | Err(_) => {
                return ProtoError::connection(
                    H3_CLOSED_CRITICAL_STREAM,
                    "the client's control stream closed",
                )
            }
        };
        // Every frame counts, the ones the decoder skips too; a long frame is one frame.
        for _ in 0..counter.feed(&chunk) {
            if !rate.allow() {
                return flood();
            }
        }
        loop {
            let frame = match decoder.decode(&mut chunk) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return e,
            };
            if let Err(e) = on_frame(ctx, frame, &mut push_limit) {
                return e;
            }
        }
    }
}

/// Counts the frames of a stream as they stream past, whatever their type: the decoder skips
/// unknown and reserved ones without a word. Its state is a partial frame header.
#[derive(Default)]
struct FrameCounter {
    head: [u8; 16],
    head_len: usize,
    /// Payload bytes of the current frame still to pass.
    skip: u64,
}

impl FrameCounter {
    /// How many frame headers `bytes` completes.
    fn feed(&mut self, mut bytes: &[u8]) -> usize {
        let mut frames = 0;
        loop {
            let n = usize::try_from(self.skip)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            self.skip -= n as u64;
            bytes = &bytes[n..];
            if bytes.is_empty() {
                return frames;
            }
            // Within a frame header: take bytes until type and length are whole.
            let room = self.head.len() - self.head_len;
            let take = room.min(bytes.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&bytes[..take]);
            let have = self.head_len + take;
            let parsed = varint::decode(&self.head[..have]).and_then(|(_, a)| {
                varint::decode(&self.head[a..have]).map(|(len, b)| (len, a + b))
            });
            match parsed {
                Some((len, used)) => {
                    frames += 1;
                    // Bytes of `bytes` past the header belong to the payload.
                    let consumed = used - self.head_len;
                    bytes = &bytes[consumed..];
                    self.head_len = 0;
                    self.skip = len;
                }
                None => {
                    self.head_len = have;
                    return frames;
                }
            }
        }
    }
}

fn flood() -> ProtoError {
    ProtoError::connection(H3_EXCESSIVE_LOAD, "control frames over the rate limit")
}

/// Acts on one frame of the client's control stream (the decoder has checked where it may
/// appear).
fn on_frame(ctx: &Ctx, frame: Frame, push_limit: &mut Option<u64>) -> Result<(), ProtoError> {
    match frame {
        Frame::Settings(settings) => {
            tracing::debug!(parent: &ctx.span, settings = ?settings.iter().collect::<Vec<_>>(), "client SETTINGS");
            check_settings(&settings)?;
            ctx.peer.settings.send_replace(Some(settings));
            Ok(())
        }
        Frame::GoAway(id) => {
            // RFC 9114 §5.2: a later GOAWAY never raises the id.
            let previous = ctx.peer.goaway.swap(id, Ordering::AcqRel);
            if id > previous {
                return Err(ProtoError::connection(H3_ID_ERROR, "GOAWAY id went up"));
            }
            tracing::debug!(parent: &ctx.span, id, "the client sent GOAWAY");
            ctx.peer.going_away.notify_one();
            Ok(())
        }
        Frame::MaxPushId(id) => {
            if push_limit.is_some_and(|limit| id < limit) {
                return Err(ProtoError::connection(H3_ID_ERROR, "MAX_PUSH_ID went down"));
            }
            *push_limit = Some(id);
            Ok(())
        }
        // RFC 9114 §7.2.3: a push id no PUSH_PROMISE mentioned; the server never pushes.
        Frame::CancelPush(_) => Err(ProtoError::connection(
            H3_ID_ERROR,
            "CANCEL_PUSH for a push never promised",
        )),
        Frame::Headers(_) | Frame::Data(_) | Frame::WebTransportStream(_) => {
            Err(ProtoError::connection(
                crate::codes::H3_FRAME_UNEXPECTED,
                "frame not allowed on the control stream",
            ))
        }
    }
}

/// The client's settings the server cares about: H3_DATAGRAM is 0 or 1 (RFC 9297 §2.1.1).
fn check_settings(settings: &Settings) -> Result<(), ProtoError> {
    if settings.get(ids::H3_DATAGRAM).is_some_and(|v| v > 1) {
        return Err(ProtoError::connection(
            H3_SETTINGS_ERROR,
            "SETTINGS_H3_DATAGRAM is not 0 or 1",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_announce_webtransport_only_when_configured() {
        let config = Http3Config::default();
        let plain = server_settings(&config, false);
        assert!(plain.contains(&(ids::QPACK_MAX_TABLE_CAPACITY, 0)));
        assert!(plain.contains(&(ids::MAX_FIELD_SECTION_SIZE, 64 * 1024)));
        assert!(!plain.iter().any(|(id, _)| *id == ids::ENABLE_WEBTRANSPORT));
        let wt = server_settings(&config, true);
        for id in [
            ids::ENABLE_CONNECT_PROTOCOL,
            ids::H3_DATAGRAM,
            ids::ENABLE_WEBTRANSPORT,
        ] {
            assert!(wt.contains(&(id, 1)), "{id:#x}");
        }
        assert!(wt.contains(&(ids::WEBTRANSPORT_MAX_SESSIONS, 16)));
        // Nothing of the drafts the server does not speak (nor h3 0.0.8's 0x2b603743).
        for id in [0x2b60_3743, 0x14e9_cd29, 0x2c7c_f000] {
            assert!(!wt.iter().any(|&(i, _)| i == id), "{id:#x}");
        }
    }

    #[cfg(feature = "websocket")]
    #[test]
    fn settings_offer_extended_connect_for_websockets_unless_turned_off() {
        let on = server_settings(&Http3Config::default(), false);
        assert!(on.contains(&(ids::ENABLE_CONNECT_PROTOCOL, 1)));
        assert!(!on.iter().any(|(id, _)| *id == ids::H3_DATAGRAM));
        let off = server_settings(&Http3Config::default().websockets(false), false);
        assert!(!off
            .iter()
            .any(|(id, _)| *id == ids::ENABLE_CONNECT_PROTOCOL));
        // WebTransport needs it whatever the WebSocket setting.
        let wt = server_settings(&Http3Config::default().websockets(false), true);
        assert!(wt.contains(&(ids::ENABLE_CONNECT_PROTOCOL, 1)));
    }

    #[test]
    fn the_counter_counts_every_frame_in_any_split_and_long_ones_once() {
        let mut stream = BytesMut::new();
        for (ty, len) in [(0x04, 3), (grease(7), 300), (0x07, 1), (grease(9), 0)] {
            frame::encode_header(ty, len, &mut stream);
            stream.extend_from_slice(&vec![0u8; len as usize]);
        }
        for split in [1, 2, 3, 7, 64, 1000] {
            let mut counter = FrameCounter::default();
            let n: usize = stream.chunks(split).map(|c| counter.feed(c)).sum();
            assert_eq!(n, 4, "split {split}");
        }
        // A frame declaring 2^40 bytes is one frame however much of it streams past.
        let mut counter = FrameCounter::default();
        let mut head = BytesMut::new();
        frame::encode_header(grease(3), 1 << 40, &mut head);
        assert_eq!(counter.feed(&head), 1);
        assert_eq!(counter.feed(&[0u8; 65536]), 0);
    }

    #[test]
    fn grease_codepoints_are_reserved() {
        for n in [0, 1, 12345, u64::MAX] {
            assert_eq!((grease(n) - 0x21) % 0x1f, 0);
        }
    }
}
